import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url: opaque to clients, and only its hash is ever stored. */
const FORMAT = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedRefreshToken {
  readonly token: string;
  readonly hash: string;
}

/** SHA-256 is enough here: the token has 256 random bits, so there is nothing to brute-force. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export function newRefreshToken(): IssuedRefreshToken {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

/** A family (session) id: names the chain of tokens that rotation produces from one login. */
export const newFamilyId = (): string => randomBytes(16).toString('base64url');

export const isWellFormedRefreshToken = (token: string): boolean => FORMAT.test(token);
