/**
 * Signing keys and a real JWKS server on 127.0.0.1 for JWT tests: keys made by jose itself, tokens signed with
 * jose's SignJWT, and a node:http server whose key set, status and fetch count a test controls.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function createSigningKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface TokenOptions {
  readonly issuer?: string;
  readonly audience?: string;
  /** Seconds since the epoch; defaults to now + 1 h. `null` leaves exp out. */
  readonly exp?: number | null;
  readonly nbf?: number;
  /** Signs with this key but announces another kid (a forgery, or a rotation in progress). */
  readonly kid?: string;
}

export const ISSUER = 'https://idp.test';
export const AUDIENCE = 'splitgate-test';
/** A `jwt` block for configs that read claims but verify no token in the test (the key set is never fetched). */
export const VERIFYING_JWT = { jwks: { url: `${ISSUER}/.well-known/jwks.json` }, issuer: ISSUER, audience: AUDIENCE };

export async function signToken(key: SigningKey, claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt();
  const exp = options.exp === undefined ? Math.floor(Date.now() / 1000) + 3600 : options.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(key.privateKey);
}

/** An unsecured JWT (RFC 7519 §6): `alg: none`, with an empty signature or, to get past shape checks, a junk one. */
export function unsignedToken(claims: JWTPayload, signature = ''): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, exp, ...claims })}.${signature}`;
}

export interface JwksServer {
  readonly url: string;
  readonly server: Server;
  /** GET requests answered (or refused with `status`) so far. */
  readonly fetches: () => number;
  /** What the next fetches serve. */
  serve(keys: readonly SigningKey[]): void;
  /** Answer with this status instead (e.g. 500); 200 serves the keys again. */
  answerWith(status: number): void;
  /** Accept requests and never answer them (a hung IdP). */
  hang(): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: readonly SigningKey[]): Promise<JwksServer> {
  let served = keys;
  let status = 200;
  let hanging = false;
  let fetches = 0;
  const server = createServer((req, res) => {
    fetches++;
    if (hanging) return;
    if (status !== 200) {
      res.writeHead(status).end('unavailable');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
    res.end(JSON.stringify({ keys: served.map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    server,
    fetches: () => fetches,
    serve: (next) => {
      served = next;
    },
    answerWith: (next) => {
      status = next;
    },
    hang: () => {
      hanging = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
