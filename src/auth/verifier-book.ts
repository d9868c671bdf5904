/**
 * The JWT verifiers of the running instance, one per distinct `jwt` settings, kept across tables: a reload that
 * leaves a route's `jwt` unchanged keeps its verified-token cache and its fetched key set. Like the canary guards,
 * it outlasts every table and lives beside the upstream pools.
 */
import type { JwtConfig } from '../config/schema.js';
import { JwtVerifier, type VerifierDeps } from './jwt-verifier.js';

export class JwtVerifierBook {
  readonly #verifiers = new Map<string, JwtVerifier>();

  /** The verifier for `spec` (equal settings, the key set a file held included, share one). */
  verifierFor(spec: JwtConfig, deps: VerifierDeps): JwtVerifier {
    const key = JSON.stringify(spec);
    let verifier = this.#verifiers.get(key);
    if (verifier === undefined) {
      verifier = new JwtVerifier(spec, deps);
      this.#verifiers.set(key, verifier);
    }
    return verifier;
  }

  /** Drops verifiers no table uses any more. */
  retain(keep: ReadonlySet<JwtVerifier>): void {
    for (const [key, verifier] of this.#verifiers) if (!keep.has(verifier)) this.#verifiers.delete(key);
  }

  get size(): number {
    return this.#verifiers.size;
  }
}
