import { SLOTS } from '../metrics/rolling-window.js';
export class ComparisonWindow {
    #seconds = new Float64Array(SLOTS).fill(-1);
    #compared = new Float64Array(SLOTS);
    #matched = new Float64Array(SLOTS);
    add(nowMs, compared, matched) {
        const second = Math.floor(nowMs / 1000);
        const index = second % SLOTS;
        if (this.#seconds[index] !== second) {
            this.#seconds[index] = second;
            this.#compared[index] = 0;
            this.#matched[index] = 0;
        }
        this.#compared[index] += compared;
        this.#matched[index] += matched;
    }
    snapshot(nowMs, spanSeconds) {
        const span = Math.max(1, Math.min(spanSeconds, SLOTS));
        const now = Math.floor(nowMs / 1000);
        let compared = 0;
        let matched = 0;
        for (let i = 0; i < SLOTS; i++) {
            const second = this.#seconds[i];
            if (second <= now - span || second > now)
                continue;
            compared += this.#compared[i];
            matched += this.#matched[i];
        }
        return { compared, matched };
    }
}
//# sourceMappingURL=comparison-window.js.map