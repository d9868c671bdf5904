import { FieldNameCache } from './field-names.js';
import { connectionTokens } from './request-head.js';
const responseNames = new FieldNameCache();
export function buildClientHeaders(rawHeaders, setCookie) {
    const out = [];
    let tokens = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = responseNames.get(rawHeaders[i]);
        if (name.hopByHop) {
            if (name.lower === 'connection')
                tokens = connectionTokens(name.value(rawHeaders[i + 1]));
            continue;
        }
        out.push(name.text, name.value(rawHeaders[i + 1]));
    }
    if (tokens !== null) {
        for (let i = out.length - 2; i >= 0; i -= 2)
            if (tokens.has(out[i].toLowerCase()))
                out.splice(i, 2);
    }
    if (setCookie !== null)
        out.push('set-cookie', setCookie);
    return out;
}
//# sourceMappingURL=headers.js.map