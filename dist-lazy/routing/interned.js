export function interned(text) {
    return Object.keys({ [text]: 0 })[0];
}
//# sourceMappingURL=interned.js.map