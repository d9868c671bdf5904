/**
 * Reloads the config when its file, or a file it names (the flags definitions), changes. Watches directories, not
 * files, so editors that write a new file and rename it, and Kubernetes ConfigMap updates (a symlink swap), are
 * seen too. Changes are debounced: a file written in several steps is read once, after it settles; a half-written
 * file that does not parse is rejected by the reload and the next write tries again.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export class ConfigWatcher {
  /** One watcher per directory, with the names in it that count. */
  readonly #watchers = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  readonly #onChange: () => void;
  readonly #debounceMs: number;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(file: string, onChange: () => void, debounceMs = 250) {
    this.#onChange = onChange;
    this.#debounceMs = debounceMs;
    this.watchFiles([file]);
  }

  /** Watches exactly these files from now on (the config file and the files it names, after each reload). */
  watchFiles(files: readonly string[]): void {
    if (this.#closed) return;
    const wanted = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = dirname(resolve(file));
      let names = wanted.get(dir);
      if (names === undefined) wanted.set(dir, (names = new Set()));
      names.add(basename(file));
    }
    for (const [dir, entry] of this.#watchers) {
      if (!wanted.has(dir)) {
        entry.watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const existing = this.#watchers.get(dir);
      if (existing !== undefined) {
        existing.names.clear();
        for (const name of names) existing.names.add(name);
        continue;
      }
      const watcher = watch(dir, (_event, changed) => {
        // Some platforms report no file name; a ConfigMap swap renames `..data`: both may be our file.
        if (changed !== null && !names.has(changed) && !changed.startsWith('..')) return;
        this.#changed();
      });
      watcher.on('error', () => undefined);
      this.#watchers.set(dir, { watcher, names });
    }
  }

  #changed(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#onChange();
    }, this.#debounceMs);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const { watcher } of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }
}

/** The files a config's reload depends on besides itself. */
export function filesNamedBy(config: { readonly flags?: { readonly file?: string } }): string[] {
  return config.flags?.file === undefined ? [] : [config.flags.file];
}
