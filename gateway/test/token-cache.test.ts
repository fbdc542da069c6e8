import { TokenError, type Principal } from '@taskmesh/access-token';
import { describe, expect, it } from 'vitest';
import { TokenCache } from '../src/domain/token-cache.js';

/** A verifier that accepts tokens named `good-*` (expiring at `exp`) and counts its calls. */
function countingVerifier(exp: number) {
  const calls: string[] = [];
  const verify = async (token: string): Promise<Principal> => {
    calls.push(token);
    await Promise.resolve();
    if (!token.startsWith('good-')) throw new TokenError('AUTH_ERR_TOKEN_INVALID', 'bad');
    return { userId: token, role: 'user', tokenId: token, expiresAt: exp };
  };
  return { verify, calls };
}

describe('verified-token cache', () => {
  it('when a token was verified, then it is not verified again until it expires, and is checked again after', async () => {
    let now = 1000;
    const { verify, calls } = countingVerifier(1100);
    const cache = new TokenCache(verify, { maxEntries: 10, now: () => now });
    const cached = cache.verify;
    await cached('good-a');
    await cached('good-a');
    expect(calls).toEqual(['good-a']);
    expect(cache.lookup('good-a')?.userId).toBe('good-a');
    now = 1100;
    expect(cache.lookup('good-a')).toBeUndefined();
    await cached('good-a');
    expect(calls).toEqual(['good-a', 'good-a']);
  });

  it('when a token is refused, then the refusal is not remembered and each attempt is verified', async () => {
    const { verify, calls } = countingVerifier(2000);
    const cached = new TokenCache(verify, { maxEntries: 10, now: () => 1000 }).verify;
    await expect(cached('forged')).rejects.toThrow(TokenError);
    await expect(cached('forged')).rejects.toThrow(TokenError);
    expect(calls).toEqual(['forged', 'forged']);
  });

  it('when one new token arrives on many requests at once, then it is verified once', async () => {
    const { verify, calls } = countingVerifier(2000);
    const cached = new TokenCache(verify, { maxEntries: 10, now: () => 1000 }).verify;
    const principals = await Promise.all(Array.from({ length: 50 }, () => cached('good-b')));
    expect(new Set(principals.map((p) => p.userId))).toEqual(new Set(['good-b']));
    expect(calls).toEqual(['good-b']);
  });

  it('when the cache is full, then the oldest token makes room and the size stays bounded', async () => {
    const { verify, calls } = countingVerifier(2000);
    const cached = new TokenCache(verify, { maxEntries: 2, now: () => 1000 }).verify;
    for (const t of ['good-1', 'good-2', 'good-3', 'good-3', 'good-2', 'good-1']) await cached(t);
    expect(calls).toEqual(['good-1', 'good-2', 'good-3', 'good-1']);
  });
});
