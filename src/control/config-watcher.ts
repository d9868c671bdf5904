/**
 * Reloads the config when its file changes. Watches the directory, not the file, so editors that write a new
 * file and rename it, and Kubernetes ConfigMap updates (a symlink swap), are seen too. Changes are debounced:
 * a file written in several steps is read once, after it settles; a half-written file that does not parse is
 * rejected by the reload and the next write tries again.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export class ConfigWatcher {
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | null = null;

  constructor(file: string, onChange: () => void, debounceMs = 250) {
    const name = basename(file);
    this.#watcher = watch(dirname(file), (_event, changed) => {
      // Some platforms report no file name; a ConfigMap swap renames `..data`: both may be our file.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        onChange();
      }, debounceMs);
    });
    this.#watcher.on('error', () => undefined);
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#watcher.close();
  }
}
