import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
export class ConfigWatcher {
    #watchers = new Map();
    #onChange;
    #debounceMs;
    #timer = null;
    #closed = false;
    constructor(file, onChange, debounceMs = 250) {
        this.#onChange = onChange;
        this.#debounceMs = debounceMs;
        this.watchFiles([file]);
    }
    watchFiles(files) {
        if (this.#closed)
            return;
        const wanted = new Map();
        for (const file of files) {
            const dir = dirname(resolve(file));
            let names = wanted.get(dir);
            if (names === undefined)
                wanted.set(dir, (names = new Set()));
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
                for (const name of names)
                    existing.names.add(name);
                continue;
            }
            const watcher = watch(dir, (_event, changed) => {
                if (changed !== null && !names.has(changed) && !changed.startsWith('..'))
                    return;
                this.#changed();
            });
            watcher.on('error', () => undefined);
            this.#watchers.set(dir, { watcher, names });
        }
    }
    #changed() {
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
            this.#timer = null;
            this.#onChange();
        }, this.#debounceMs);
    }
    close() {
        this.#closed = true;
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        for (const { watcher } of this.#watchers.values())
            watcher.close();
        this.#watchers.clear();
    }
}
export function filesNamedBy(config) {
    return config.flags?.file === undefined ? [] : [config.flags.file];
}
//# sourceMappingURL=config-watcher.js.map