/**
 * What stored diffs and diff log lines must not keep: values of names that look like credentials (request and
 * response headers, JSON fields), and query-string values. A redacted value is shown as `[redacted]`; the name
 * stays, so a diff still says *what* differed.
 *
 * Names are matched by plain substring/prefix/suffix tests, never by a regex built from config: matching runs on
 * names that come from clients and upstreams, and must stay linear in their length.
 */

export const REDACTED = '[redacted]';

/**
 * Always redacted, whatever the config says: names containing one of these look like credentials. Covers
 * `authorization`, `proxy-authorization`, `cookie`, `set-cookie`, `x-api-key`, `x-auth-token`, `sessionId`, ...
 * False positives (`monkey`, `author`) only hide a value; the field is still listed.
 */
export const CREDENTIAL_NAME_PARTS: readonly string[] = ['token', 'secret', 'key', 'auth', 'session', 'passw', 'credential', 'cookie'];

/** A name list entry: `x-tenant` (exact), `x-internal-*` (prefix), `*-sig` (suffix), `*tenant*` (substring). */
export const REDACT_ENTRY = /^\*?[!#$%&'+\-.^_`|~0-9A-Za-z]+\*?$/;

interface NameRule {
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains';
  readonly text: string;
}

/** Decides whether a name (header or JSON key, any case) is redacted. */
export type NameRedaction = (name: string) => boolean;

/** Built-in credential parts plus configured entries (REDACT_ENTRY syntax), compiled once per route. */
export function compileNameRedaction(entries: readonly string[]): NameRedaction {
  const rules: NameRule[] = CREDENTIAL_NAME_PARTS.map((text) => ({ kind: 'contains', text }));
  const exact = new Set<string>();
  for (const raw of entries) {
    const entry = raw.toLowerCase();
    const leading = entry.startsWith('*');
    const trailing = entry.length > 1 && entry.endsWith('*');
    const text = entry.slice(leading ? 1 : 0, trailing ? -1 : undefined);
    if (text === '') continue;
    if (leading && trailing) rules.push({ kind: 'contains', text });
    else if (leading) rules.push({ kind: 'suffix', text });
    else if (trailing) rules.push({ kind: 'prefix', text });
    else exact.add(text);
  }
  return (name: string) => {
    const lower = name.toLowerCase();
    if (exact.has(lower)) return true;
    for (const rule of rules) {
      if (rule.kind === 'contains' ? lower.includes(rule.text) : rule.kind === 'prefix' ? lower.startsWith(rule.text) : lower.endsWith(rule.text)) return true;
    }
    return false;
  };
}

/** `/api?token=abc&page=2&flag` → `/api?token=[redacted]&page=[redacted]&flag`: names kept, values dropped. */
export function redactQuery(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const parts = url.slice(start + 1).split('&');
  for (let i = 0; i < parts.length; i++) {
    const equals = parts[i].indexOf('=');
    if (equals >= 0) parts[i] = `${parts[i].slice(0, equals + 1)}${REDACTED}`;
  }
  return `${url.slice(0, start + 1)}${parts.join('&')}`;
}

/**
 * The last named segment of a difference's path: `body.$.user.apiKey` → `apiKey`, `body.$.tokens[2]` → `tokens`,
 * `body.$["x-token"]` → `x-token`, `headers.set-cookie` → `set-cookie`. Null for `status` and `body`.
 */
export function lastPathName(path: string): string | null {
  if (path.startsWith('headers.')) return path.slice(8);
  if (!path.startsWith('body.$')) return null;
  let end = path.length;
  // Trailing array indices name no field: the values under `tokens[]` are tokens.
  while (path.charCodeAt(end - 1) === 93 /* ] */) {
    if (path.charCodeAt(end - 2) === 34 /* " */) {
      // A quoted key: inside its JSON string every quote is escaped, so the last `["` before the closing quote
      // opens this segment.
      const open = path.lastIndexOf('["', end - 4);
      try {
        return JSON.parse(path.slice(open + 1, end - 1)) as string;
      } catch {
        return null;
      }
    }
    const open = path.lastIndexOf('[', end - 1);
    if (open < 0) return null;
    end = open;
  }
  const dot = path.lastIndexOf('.', end - 1);
  const name = path.slice(dot + 1, end);
  return name === '$' || name === '' ? null : name;
}

/** JSON text of a value with the values of credential-like keys replaced, at any depth. */
export function redactedJson(value: unknown, redacted: NameRedaction): string {
  return JSON.stringify(value, (key: string, inner: unknown) => (key !== '' && redacted(key) ? REDACTED : inner));
}
