export class FlagCountBook {
    #cells = new Map();
    cell(flag, variant, reason) {
        const key = `${flag}\n${variant}\n${reason}`;
        let cell = this.#cells.get(key);
        if (cell === undefined) {
            cell = { labels: { flag, variant, reason }, value: 0 };
            this.#cells.set(key, cell);
        }
        return cell;
    }
    all() {
        return this.#cells.values();
    }
}
//# sourceMappingURL=flag-counts.js.map