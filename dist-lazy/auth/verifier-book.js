import { JwtVerifier } from './jwt-verifier.js';
export class JwtVerifierBook {
    #verifiers = new Map();
    verifierFor(spec, deps) {
        const key = JSON.stringify(spec);
        let verifier = this.#verifiers.get(key);
        if (verifier === undefined) {
            verifier = new JwtVerifier(spec, deps);
            this.#verifiers.set(key, verifier);
        }
        return verifier;
    }
    retain(keep) {
        for (const [key, verifier] of this.#verifiers)
            if (!keep.has(verifier))
                this.#verifiers.delete(key);
    }
    get size() {
        return this.#verifiers.size;
    }
}
//# sourceMappingURL=verifier-book.js.map