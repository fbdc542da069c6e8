import type { Principal, VerifyAccessToken } from './token.js';

export interface TokenCacheOptions {
  /** Verified tokens kept at most; the oldest entry makes room. 0 turns the cache off. */
  readonly maxEntries: number;
  /** Seconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/**
 * Access tokens already verified, kept until they expire: an Ed25519 check per request costs more
 * than the rest of a cheap request's work (in the gateway, and again in the service behind it). Only successes are kept (a stream of forged
 * tokens cannot fill the cache with its own entries), and concurrent first uses of one token
 * share a single verification.
 */
export class TokenCache {
  private readonly verifyToken: VerifyAccessToken;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly verified = new Map<string, Principal>();
  private readonly pending = new Map<string, Promise<Principal>>();

  constructor(verify: VerifyAccessToken, opts: TokenCacheOptions) {
    this.verifyToken = verify;
    this.maxEntries = opts.maxEntries;
    this.now = opts.now ?? (() => Date.now() / 1000);
  }

  /** The principal of a token verified earlier and not yet expired; synchronous, for the hot path. */
  lookup(token: string): Principal | undefined {
    const hit = this.verified.get(token);
    if (hit === undefined) return undefined;
    if (hit.expiresAt > this.now()) return hit;
    this.verified.delete(token);
    return undefined;
  }

  /** Verifies a token (or returns the cached principal); rejects with the verifier's `TokenError`. */
  verify = (token: string): Promise<Principal> => {
    const hit = this.lookup(token);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.maxEntries <= 0) return this.verifyToken(token);
    const inFlight = this.pending.get(token);
    if (inFlight !== undefined) return inFlight;
    const check = this.verifyToken(token).then(
      (principal) => {
        this.pending.delete(token);
        if (this.verified.size >= this.maxEntries) this.verified.delete(this.verified.keys().next().value!);
        this.verified.set(token, principal);
        return principal;
      },
      (err: unknown) => {
        this.pending.delete(token);
        throw err;
      },
    );
    this.pending.set(token, check);
    return check;
  };
}
