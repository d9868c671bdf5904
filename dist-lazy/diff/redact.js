export const REDACTED = '[redacted]';
export const CREDENTIAL_NAME_PARTS = ['token', 'secret', 'key', 'auth', 'session', 'passw', 'credential', 'cookie'];
export const REDACT_ENTRY = /^\*?[!#$%&'+\-.^_`|~0-9A-Za-z]+\*?$/;
export function compileNameRedaction(entries) {
    const rules = CREDENTIAL_NAME_PARTS.map((text) => ({ kind: 'contains', text }));
    const exact = new Set();
    for (const raw of entries) {
        const entry = raw.toLowerCase();
        const leading = entry.startsWith('*');
        const trailing = entry.length > 1 && entry.endsWith('*');
        const text = entry.slice(leading ? 1 : 0, trailing ? -1 : undefined);
        if (text === '')
            continue;
        if (leading && trailing)
            rules.push({ kind: 'contains', text });
        else if (leading)
            rules.push({ kind: 'suffix', text });
        else if (trailing)
            rules.push({ kind: 'prefix', text });
        else
            exact.add(text);
    }
    return (name) => {
        const lower = name.toLowerCase();
        if (exact.has(lower))
            return true;
        for (const rule of rules) {
            if (rule.kind === 'contains' ? lower.includes(rule.text) : rule.kind === 'prefix' ? lower.startsWith(rule.text) : lower.endsWith(rule.text))
                return true;
        }
        return false;
    };
}
export function redactQuery(url) {
    const start = url.indexOf('?');
    if (start < 0)
        return url;
    const parts = url.slice(start + 1).split('&');
    for (let i = 0; i < parts.length; i++) {
        const equals = parts[i].indexOf('=');
        if (equals >= 0)
            parts[i] = `${parts[i].slice(0, equals + 1)}${REDACTED}`;
    }
    return `${url.slice(0, start + 1)}${parts.join('&')}`;
}
export function lastPathName(path) {
    if (path.startsWith('headers.'))
        return path.slice(8);
    if (!path.startsWith('body.$'))
        return null;
    let end = path.length;
    while (path.charCodeAt(end - 1) === 93) {
        if (path.charCodeAt(end - 2) === 34) {
            const open = path.lastIndexOf('["', end - 4);
            try {
                return JSON.parse(path.slice(open + 1, end - 1));
            }
            catch {
                return null;
            }
        }
        const open = path.lastIndexOf('[', end - 1);
        if (open < 0)
            return null;
        end = open;
    }
    const dot = path.lastIndexOf('.', end - 1);
    const name = path.slice(dot + 1, end);
    return name === '$' || name === '' ? null : name;
}
export function redactedJson(value, redacted) {
    return JSON.stringify(value, (key, inner) => (key !== '' && redacted(key) ? REDACTED : inner));
}
//# sourceMappingURL=redact.js.map