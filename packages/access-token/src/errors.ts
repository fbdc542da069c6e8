import { AppError, UNAVAILABLE_RETRY_AFTER, defineErrors } from '@taskmesh/service-kit';
import type { Role, TokenError } from './token.js';

/**
 * Every answer about an access token, for the services and the gateway alike: one code, one
 * status and one set of headers per failure.
 */
export const tokenErrors = defineErrors({
  AUTH_ERR_TOKEN_MISSING: [401, 'a bearer token is required'],
  AUTH_ERR_TOKEN_EXPIRED: [401, 'the token has expired'],
  AUTH_ERR_TOKEN_INVALID: [401, 'the token is not valid'],
  AUTH_ERR_KEYS_UNAVAILABLE: [503, 'the signing keys cannot be fetched right now'],
  AUTH_ERR_FORBIDDEN: [403, 'not allowed'],
});

/** RFC 6750's challenge, naming what was wrong with the token. */
const challenge = (code: string) => ({ 'www-authenticate': `Bearer error="invalid_token", error_description="${code}"` });

/** No `Authorization` header (or an empty one). */
export const missingToken = (): AppError => tokenErrors.AUTH_ERR_TOKEN_MISSING(undefined, { 'www-authenticate': 'Bearer' });

/** A verification failure as the client sees it: 401 with a challenge, or 503 while keys cannot be fetched. */
export function tokenFailure(err: TokenError): AppError {
  if (err.code === 'AUTH_ERR_KEYS_UNAVAILABLE') return tokenErrors.AUTH_ERR_KEYS_UNAVAILABLE(err.message, { 'retry-after': UNAVAILABLE_RETRY_AFTER });
  return tokenErrors[err.code](err.message, challenge(err.code));
}

/** The caller is authenticated but lacks the role. */
export const missingRole = (role: Role): AppError => tokenErrors.AUTH_ERR_FORBIDDEN(`the ${role} role is required`);
