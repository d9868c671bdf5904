import { createHash } from 'node:crypto';
export class BodyCapture {
    #cap;
    #hash;
    #chunks = [];
    #length = 0;
    constructor(cap, hash = true) {
        this.#cap = cap;
        this.#hash = hash ? createHash('sha256') : null;
    }
    add(chunk) {
        this.#length += chunk.length;
        this.#hash?.update(chunk);
        if (this.#chunks === null)
            return;
        if (this.#length > this.#cap)
            this.#chunks = null;
        else
            this.#chunks.push(chunk);
    }
    get length() {
        return this.#length;
    }
    get overCap() {
        return this.#chunks === null;
    }
    bytes() {
        return this.#chunks === null ? null : Buffer.concat(this.#chunks, this.#length);
    }
    sha256() {
        return this.#hash === null ? '' : this.#hash.digest('hex');
    }
}
//# sourceMappingURL=body-capture.js.map