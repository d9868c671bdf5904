import { REJECTION_REASONS } from '../proxy/client-limits.js';
const RETRY_RESULTS = ['ok', 'failed', 'budget_exhausted'];
export class ProxyDeltaTaker {
    #sources;
    #shipped = new Map();
    #guardsShipped = new Map();
    #gauges = '';
    constructor(sources) {
        this.#sources = sources;
    }
    take(connections) {
        const retries = [];
        const ejections = [];
        const current = this.#sources.current?.();
        const states = new Map();
        const fromCurrent = new Set();
        const shipped = new Map();
        for (const guard of this.#sources.guards()) {
            const before = this.#guardsShipped.get(guard) ?? { ok: 0, failed: 0, budget_exhausted: 0, ejections: 0 };
            for (const result of RETRY_RESULTS) {
                const grown = guard.retries[result] - before[result];
                if (grown > 0)
                    retries.push([guard.route, result, grown]);
            }
            const grown = guard.ejections - before.ejections;
            if (grown > 0)
                ejections.push([guard.route, grown]);
            shipped.set(guard, { ...guard.retries, ejections: guard.ejections });
            if (fromCurrent.has(guard.route))
                continue;
            states.set(guard.route, [guard.route, guard.ejected, guard.phase, guard.unhealthy, guard.ejectedUntil]);
            if (current?.has(guard) === true)
                fromCurrent.add(guard.route);
        }
        this.#guardsShipped = shipped;
        const ejected = [...states.values()];
        const rejections = [];
        for (const [reason, count] of this.#sources.listener.rejections()) {
            const grown = this.#grow(`x\n${reason}`, count);
            if (grown > 0)
                rejections.push([reason, grown]);
        }
        const upgrades = [];
        const upgradesOpen = [];
        for (const u of this.#sources.listener.upgrades()) {
            const key = `u\n${u.route}\n${u.version}`;
            const closed = this.#grow(`${key}\nclosed`, u.closed);
            const bytesIn = this.#grow(`${key}\nin`, u.bytesIn);
            const bytesOut = this.#grow(`${key}\nout`, u.bytesOut);
            const seconds = this.#grow(`${key}\nseconds`, u.seconds);
            if (closed + bytesIn + bytesOut + seconds > 0)
                upgrades.push([u.route, u.version, closed, bytesIn, bytesOut, seconds]);
            upgradesOpen.push([u.route, u.version, u.open]);
        }
        const jwt = [];
        for (const [result, count] of this.#sources.jwt?.() ?? []) {
            const grown = this.#grow(`j\n${result}`, count);
            if (grown > 0)
                jwt.push([result, grown]);
        }
        const gauges = JSON.stringify([ejected, connections, upgradesOpen]);
        const gaugesChanged = gauges !== this.#gauges;
        this.#gauges = gauges;
        if (!gaugesChanged && retries.length + ejections.length + rejections.length + upgrades.length + jwt.length === 0)
            return null;
        return { retries, ejections, rejections, upgrades, jwt, ejected, connections, upgradesOpen };
    }
    #grow(key, total) {
        const before = this.#shipped.get(key) ?? 0;
        this.#shipped.set(key, total);
        return total >= before ? total - before : total;
    }
}
const PHASE_RANK = { closed: 0, probing: 1, ejected: 2 };
export class ProxyTotals {
    #retries = new Map();
    #ejections = new Map();
    #rejections = new Map(REJECTION_REASONS.map((reason) => [reason, 0]));
    #upgrades = new Map();
    #gauges = new Map();
    #jwt;
    constructor(jwtCounts = new Map()) {
        this.#jwt = jwtCounts;
    }
    apply(slot, delta) {
        for (const [result, count] of delta.jwt ?? [])
            this.#jwt.set(result, (this.#jwt.get(result) ?? 0) + count);
        for (const [route, result, count] of delta.retries) {
            if (!RETRY_RESULTS.includes(result))
                continue;
            this.#retriesOf(route)[result] += count;
        }
        for (const [route, count] of delta.ejections) {
            this.#retriesOf(route);
            this.#ejections.set(route, (this.#ejections.get(route) ?? 0) + count);
        }
        for (const [reason, count] of delta.rejections)
            this.#rejections.set(reason, (this.#rejections.get(reason) ?? 0) + count);
        for (const [route, version, closed, bytesIn, bytesOut, seconds] of delta.upgrades) {
            const entry = this.#upgradeOf(route, version);
            entry.closed += closed;
            entry.bytesIn += bytesIn;
            entry.bytesOut += bytesOut;
            entry.seconds += seconds;
        }
        for (const [route] of delta.ejected)
            this.#retriesOf(route);
        for (const [route, version] of delta.upgradesOpen)
            this.#upgradeOf(route, version);
        this.#gauges.set(slot, {
            guards: new Map(delta.ejected.map(([route, ejected, phase, unhealthy, ejectedUntil]) => [route, { ejected, phase, unhealthy, ejectedUntil }])),
            connections: delta.connections,
            upgradesOpen: new Map(delta.upgradesOpen.map(([route, version, open]) => [`${route}\n${version}`, open])),
        });
    }
    withdraw(slot) {
        this.#gauges.delete(slot);
    }
    *guards() {
        for (const [route, retries] of this.#retries) {
            let ejected = false;
            for (const gauges of this.#gauges.values())
                ejected ||= gauges.guards.get(route)?.ejected === true;
            yield { route, retries, ejections: this.#ejections.get(route) ?? 0, ejected };
        }
    }
    guardState(route, own) {
        let phase = own.phase;
        let unhealthy = own.unhealthy;
        let ejectedUntil = own.ejectedUntil;
        let ejected = 0;
        let reporting = 0;
        for (const gauges of this.#gauges.values()) {
            const guard = gauges.guards.get(route);
            if (guard === undefined)
                continue;
            reporting++;
            if (guard.ejected)
                ejected++;
            if (PHASE_RANK[guard.phase] > PHASE_RANK[phase])
                phase = guard.phase;
            unhealthy ||= guard.unhealthy;
            ejectedUntil = Math.max(ejectedUntil, guard.ejectedUntil);
        }
        return {
            phase,
            ejected: own.ejected || ejected > 0,
            unhealthy,
            ejections: own.ejections + (this.#ejections.get(route) ?? 0),
            ejectedUntil,
            retries: this.#retries.get(route) ?? own.retries,
            workers: { ejected, reporting },
        };
    }
    listener = {
        connections: () => {
            let total = 0;
            for (const gauges of this.#gauges.values())
                total += gauges.connections;
            return total;
        },
        rejections: () => this.#rejections,
        upgrades: () => this.#upgradeTotals(),
    };
    *#upgradeTotals() {
        for (const [key, entry] of this.#upgrades) {
            let open = 0;
            for (const gauges of this.#gauges.values())
                open += gauges.upgradesOpen.get(key) ?? 0;
            yield { ...entry, open };
        }
    }
    #retriesOf(route) {
        let entry = this.#retries.get(route);
        if (entry === undefined) {
            entry = { ok: 0, failed: 0, budget_exhausted: 0 };
            this.#retries.set(route, entry);
        }
        return entry;
    }
    #upgradeOf(route, version) {
        const key = `${route}\n${version}`;
        let entry = this.#upgrades.get(key);
        if (entry === undefined) {
            entry = { route, version, closed: 0, bytesIn: 0, bytesOut: 0, seconds: 0 };
            this.#upgrades.set(key, entry);
        }
        return entry;
    }
}
export function isProxyDelta(value) {
    if (typeof value !== 'object' || value === null)
        return false;
    const d = value;
    return (Array.isArray(d.retries) && Array.isArray(d.ejections) && Array.isArray(d.rejections) && Array.isArray(d.upgrades) &&
        Array.isArray(d.ejected) && d.ejected.every(isShippedGuardState) && Array.isArray(d.upgradesOpen) && typeof d.connections === 'number' && Number.isFinite(d.connections) &&
        (d.jwt === undefined || (Array.isArray(d.jwt) && d.jwt.every((entry) => Array.isArray(entry) && typeof entry[0] === 'string' && Number.isFinite(entry[1])))));
}
function isShippedGuardState(entry) {
    if (!Array.isArray(entry))
        return false;
    const [route, ejected, phase, unhealthy, ejectedUntil] = entry;
    return typeof route === 'string' && typeof ejected === 'boolean' && typeof phase === 'string' && Object.hasOwn(PHASE_RANK, phase) && typeof unhealthy === 'boolean' && Number.isFinite(ejectedUntil);
}
//# sourceMappingURL=proxy-deltas.js.map