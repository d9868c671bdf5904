export class LocalStateAuthority {
    shared = false;
    commit(_route, _next, expected) {
        return Promise.resolve(expected + 1);
    }
    acknowledgement() {
        return Promise.resolve(null);
    }
}
//# sourceMappingURL=state-authority.js.map