import { randomUUID } from 'node:crypto';
import {
  SignJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type KeyObject,
} from 'jose';

/** What auth signs with, and the only algorithm any verifier accepts. */
export const ACCESS_TOKEN_ALG = 'EdDSA';
/** RFC 9068 type: tells access tokens apart from any other JWT (an ID token, a refresh token). */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Every role a token can carry; a token with any other is refused. */
export const ROLES = ['user', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const isRole = (value: unknown): value is Role => ROLES.includes(value as Role);

export interface Principal {
  readonly userId: string;
  readonly role: Role;
  readonly tokenId: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey | KeyObject;
}

export interface SignOptions {
  readonly sub: string;
  readonly role: Role;
  readonly issuer: string;
  readonly audience: string;
  /** @default 900 (15 minutes) */
  readonly ttlSeconds?: number;
  /** Override the issue time, seconds since the epoch (tests). */
  readonly now?: number;
}

export async function signAccessToken(key: SigningKey, opts: SignOptions): Promise<string> {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ role: opts.role })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: key.kid })
    .setIssuer(opts.issuer)
    .setAudience(opts.audience)
    .setSubject(opts.sub)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 900))
    .sign(key.privateKey);
}

export type TokenErrorCode = 'AUTH_ERR_TOKEN_MISSING' | 'AUTH_ERR_TOKEN_EXPIRED' | 'AUTH_ERR_TOKEN_INVALID' | 'AUTH_ERR_KEYS_UNAVAILABLE';

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface VerifierOptions {
  /** Where auth publishes its public keys, e.g. `http://auth:3001/.well-known/jwks.json`. */
  readonly jwksUrl?: string;
  /** A fixed key set instead of `jwksUrl` (tests, or keys mounted from a Secret). */
  readonly jwks?: JSONWebKeySet;
  readonly issuer: string;
  readonly audience: string;
  /** Least time between two JWKS fetches caused by an unknown `kid`. @default 5000 */
  readonly refetchCooldownMs?: number;
  /** Keys are refetched after this long even when every `kid` is known. @default 600000 */
  readonly cacheMaxAgeMs?: number;
  /** Allowed clock skew in seconds. @default 5 */
  readonly clockToleranceSec?: number;
}

export type VerifyAccessToken = (token: string) => Promise<Principal>;

/** Headers that would make a verifier fetch or trust a key named by the token itself. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'crit'] as const;

/**
 * The one verification core, shared by the gateway and every service: the algorithm is pinned,
 * keys come only from auth's JWKS (refetched on an unknown `kid`, at most once per cooldown),
 * and `typ`, `iss`, `aud`, `exp`, `nbf`, `sub`, `jti` and `role` are all checked.
 */
export function createAccessTokenVerifier(opts: VerifierOptions): VerifyAccessToken {
  if (!opts.jwks && !opts.jwksUrl) throw new Error('createAccessTokenVerifier needs jwksUrl or jwks');
  const keys = opts.jwks
    ? createLocalJWKSet(opts.jwks)
    : createRemoteJWKSet(new URL(opts.jwksUrl!), {
        cooldownDuration: opts.refetchCooldownMs ?? 5000,
        cacheMaxAge: opts.cacheMaxAgeMs ?? 600_000,
        timeoutDuration: 2000,
      });

  return async (token: string): Promise<Principal> => {
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch {
      throw new TokenError('AUTH_ERR_TOKEN_INVALID', 'the token is not a JWT');
    }
    for (const h of FORBIDDEN_HEADERS) {
      if (h in header) throw new TokenError('AUTH_ERR_TOKEN_INVALID', `the token header may not carry "${h}"`);
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        algorithms: [ACCESS_TOKEN_ALG],
        typ: ACCESS_TOKEN_TYP,
        issuer: opts.issuer,
        audience: opts.audience,
        clockTolerance: opts.clockToleranceSec ?? 5,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      });
      const role = payload.role;
      if (!isRole(role)) throw new TokenError('AUTH_ERR_TOKEN_INVALID', 'the token has no valid role');
      return { userId: payload.sub!, role, tokenId: payload.jti!, expiresAt: payload.exp! };
    } catch (err) {
      throw toTokenError(err);
    }
  };
}

function toTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof joseErrors.JWTExpired) return new TokenError('AUTH_ERR_TOKEN_EXPIRED', 'the token has expired');
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return new TokenError('AUTH_ERR_TOKEN_INVALID', 'the token was not signed by a known key');
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new TokenError('AUTH_ERR_KEYS_UNAVAILABLE', 'the signing keys cannot be fetched right now');
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new TokenError('AUTH_ERR_TOKEN_INVALID', `the token's "${err.claim}" claim is not acceptable`);
  }
  if (err instanceof joseErrors.JOSEError) return new TokenError('AUTH_ERR_TOKEN_INVALID', 'the token is not valid');
  if ((err as { code?: string }).code === 'ECONNREFUSED' || (err as Error).name === 'TypeError') {
    return new TokenError('AUTH_ERR_KEYS_UNAVAILABLE', 'the signing keys cannot be fetched right now');
  }
  return new TokenError('AUTH_ERR_TOKEN_INVALID', 'the token is not valid');
}

/** The token in `Authorization: Bearer …`, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer ([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*)$/.exec(authorization.trim());
  return m?.[1];
}
