import { SplitgateError } from '../errors.js';
const TABLE = {
    ECONNREFUSED: { status: 502, code: 'SG_UPSTREAM_CONNECT_REFUSED', kind: 'connect_refused', message: 'upstream refused the connection' },
    UND_ERR_CONNECT_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_CONNECT_TIMEOUT', kind: 'connect_timeout', message: 'upstream did not accept the connection in time' },
    ECONNRESET: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream reset the connection' },
    EPIPE: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream closed the connection' },
    UND_ERR_SOCKET: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream closed the connection' },
    UND_ERR_CLOSED: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream connection closed' },
    UND_ERR_HEADERS_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_TIMEOUT', kind: 'headers_timeout', message: 'upstream did not answer in time' },
    UND_ERR_BODY_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_BODY_TIMEOUT', kind: 'body_timeout', message: 'upstream stopped sending the body' },
    ENOTFOUND: { status: 502, code: 'SG_UPSTREAM_DNS', kind: 'dns', message: 'upstream host name did not resolve' },
    EAI_AGAIN: { status: 502, code: 'SG_UPSTREAM_DNS', kind: 'dns', message: 'upstream host name did not resolve' },
    EHOSTUNREACH: { status: 502, code: 'SG_UPSTREAM_UNREACHABLE', kind: 'connect_refused', message: 'upstream host unreachable' },
    ENETUNREACH: { status: 502, code: 'SG_UPSTREAM_UNREACHABLE', kind: 'connect_refused', message: 'upstream network unreachable' },
    UND_ERR_RES_CONTENT_LENGTH_MISMATCH: { status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol', message: 'upstream sent a body of the wrong length' },
    HPE_INVALID_CONSTANT: { status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol', message: 'upstream sent an invalid HTTP response' },
    UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: { status: 400, code: 'SG_CLIENT_BODY_INCOMPLETE', kind: null, message: 'request body did not match its content-length' },
    UND_ERR_INVALID_ARG: { status: 400, code: 'SG_BAD_REQUEST', kind: null, message: 'request cannot be forwarded' },
    UND_ERR_NOT_SUPPORTED: { status: 400, code: 'SG_BAD_REQUEST', kind: null, message: 'request cannot be forwarded' },
};
const TLS_CODES = new Set([
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'CERT_UNTRUSTED',
    'CERT_REVOKED',
    'CERT_SIGNATURE_FAILURE',
    'HOSTNAME_MISMATCH',
    'EPROTO',
]);
const OTHER = { status: 502, code: 'SG_UPSTREAM_ERROR', kind: 'other', message: 'upstream exchange failed' };
export function mapUpstreamError(error) {
    if (error instanceof SplitgateError)
        return { status: error.status, code: error.code, kind: null, message: error.message };
    const code = errorCode(error);
    if (code !== undefined) {
        const found = TABLE[code];
        if (found !== undefined)
            return found;
        if (code.startsWith('HPE_'))
            return TABLE.HPE_INVALID_CONSTANT;
        if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_')) {
            return { status: 502, code: 'SG_UPSTREAM_TLS', kind: 'tls', message: `upstream TLS handshake failed: ${code}` };
        }
    }
    if (error?.name === 'HTTPParserError')
        return TABLE.HPE_INVALID_CONSTANT;
    return OTHER;
}
function errorCode(error) {
    if (error === null || typeof error !== 'object')
        return undefined;
    const code = error.code;
    if (typeof code === 'string')
        return code;
    if (error instanceof AggregateError && error.errors.length > 0)
        return errorCode(error.errors[0]);
    const cause = error.cause;
    return cause !== undefined ? errorCode(cause) : undefined;
}
export function errorBody(code, message, requestId) {
    return JSON.stringify({ error: { code, message, requestId } });
}
//# sourceMappingURL=upstream-errors.js.map