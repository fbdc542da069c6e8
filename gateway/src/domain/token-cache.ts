import type { Principal, VerifyAccessToken } from '@taskmesh/access-token';

export interface TokenCacheOptions {
  /** Verified tokens kept at most; the oldest entry makes room. 0 turns the cache off. */
  readonly maxEntries: number;
  /** Seconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/**
 * Wraps the shared verifier so that a token already verified is not verified again until it
 * expires: a signature check per request would cost more than the rest of the gateway's work.
 * Only successes are kept (a stream of forged tokens cannot fill the cache with its own
 * entries), and concurrent first uses of one token share a single verification.
 */
export function cachedVerifier(verify: VerifyAccessToken, opts: TokenCacheOptions): VerifyAccessToken {
  if (opts.maxEntries <= 0) return verify;
  const now = opts.now ?? (() => Date.now() / 1000);
  const verified = new Map<string, Principal>();
  const pending = new Map<string, Promise<Principal>>();

  return (token: string): Promise<Principal> => {
    const hit = verified.get(token);
    if (hit !== undefined) {
      if (hit.expiresAt > now()) return Promise.resolve(hit);
      verified.delete(token);
    }
    const inFlight = pending.get(token);
    if (inFlight !== undefined) return inFlight;
    const check = verify(token).then(
      (principal) => {
        pending.delete(token);
        if (verified.size >= opts.maxEntries) verified.delete(verified.keys().next().value!);
        verified.set(token, principal);
        return principal;
      },
      (err: unknown) => {
        pending.delete(token);
        throw err;
      },
    );
    pending.set(token, check);
    return check;
  };
}
