export function routeFlagsSpec(config, route) {
    const flags = config.flags;
    if (flags === undefined || route.flags === false)
        return null;
    const own = route.flags;
    return {
        header: own?.header ?? flags.header,
        select: own?.select ?? 'all',
        context: { ...flags.context, ...(own?.context ?? {}) },
        memoSize: flags.memo?.size,
    };
}
export function flagsHeaderNames(config) {
    const names = new Set();
    for (const route of config.routes) {
        const spec = routeFlagsSpec(config, route);
        if (spec !== null)
            names.add(spec.header);
    }
    if (config.flags)
        names.add(config.flags.header);
    return [...names];
}
//# sourceMappingURL=route-flags-spec.js.map