import { Type, type Static } from '@sinclair/typebox';
import { ROLES, tokenErrors } from '@taskmesh/access-token';
import * as kit from '@taskmesh/service-kit';
import { COMMON_PASSWORDS } from '../domain/passwords/common-passwords.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../domain/passwords/password-policy.js';
import { EMAIL_MAX_LENGTH } from '../domain/users/email.js';

/** What `String.prototype.trim` removes: the address is trimmed before it is checked. */
const TRIMMED = '[\\t\\n\\x0b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]*';
/** Letters as they are before lower-casing: A-Z, and the Kelvin sign, which lower-cases to `k`. */
const LETTER = 'a-zA-Z\u212A';
const LABEL = `[${LETTER}0-9](?:[${LETTER}0-9-]{0,61}[${LETTER}0-9])?`;

/**
 * The address the service accepts at registration, before trimming and lower-casing: the WHATWG
 * "valid email address" grammar with a dot in the domain (`domain/users/email.ts`).
 */
export const EMAIL_PATTERN = `^${TRIMMED}[${LETTER}0-9.!#$%&'*+/=?^_\`{|}~-]{1,64}@${LABEL}(?:\\.${LABEL})+${TRIMMED}$`;

/** Case-insensitive, as the policy compares: each ASCII letter matches both cases (`k` also the Kelvin sign). */
function caseless(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}${c === 'k' ? '\u212A' : ''}]`);
}

/** The passwords the policy refuses, as one pattern: a schema can then say what the policy says. */
export const COMMON_PASSWORD_PATTERN = `^(?:${COMMON_PASSWORDS.map(caseless).join('|')})$`;

const PASSWORD_POLICY =
  `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (Unicode code points), and not one of the ${COMMON_PASSWORDS.length} ` +
  'most common leaked passwords, compared without regard to case (400 AUTH_ERR_WEAK_PASSWORD); no other rule on its characters.';

const Email = Type.String({
  minLength: 1,
  maxLength: EMAIL_MAX_LENGTH,
  pattern: EMAIL_PATTERN,
  description: 'An email address (a dot in the domain; ASCII only); trimmed and lower-cased before use',
  examples: ['ada@example.com'],
});
/** At login any string is an attempt: a malformed address is a wrong one (401), as an unknown one is. */
const LoginEmail = Type.String({
  minLength: 1,
  maxLength: EMAIL_MAX_LENGTH,
  description: 'trimmed and lower-cased before use',
  examples: ['ada@example.com'],
});
const RefreshToken = Type.String({
  minLength: 1,
  maxLength: 256,
  description: 'Opaque; spent on use. One that was not issued, has expired or was revoked answers 401 AUTH_ERR_REFRESH_INVALID.',
});

export const RegisterBodySchema = Type.Object(
  {
    email: Email,
    password: Type.String({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      not: { pattern: COMMON_PASSWORD_PATTERN },
      description: PASSWORD_POLICY,
    }),
  },
  { ...kit.CLOSED, examples: [{ email: 'ada@example.com', password: 'correct horse battery' }] },
);

/** Any length up to the cap: a wrong password of any length is simply wrong (401). */
export const LoginBodySchema = Type.Object(
  { email: LoginEmail, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
  { ...kit.CLOSED, examples: [{ email: 'ada@example.com', password: 'correct horse battery' }] },
);

export const RefreshBodySchema = Type.Object({ refreshToken: RefreshToken }, kit.CLOSED);

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Union(ROLES.map((role) => Type.Literal(role))),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    ...kit.CLOSED,
    examples: [
      { id: '0b8e1a52-8d1e-4c55-9a51-6a3f0c1f7d2e', email: 'ada@example.com', role: 'user', createdAt: '2026-12-01T09:00:00.000Z' },
    ],
  },
);

/** What clients see of an account: never the hash, never the outbox. */
export type User = Static<typeof UserSchema>;

export const TokenPairSchema = Type.Object(
  {
    accessToken: Type.String({ description: 'EdDSA JWT, typ at+jwt' }),
    refreshToken: RefreshToken,
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  },
  {
    ...kit.CLOSED,
    examples: [
      {
        accessToken: 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl',
        refreshToken: 'm7Qx1Yk2c9Zb4Vt8Ws3Nf6Hj0Lp5Rg2Ud7Ea1Ko4Ti9',
        tokenType: 'Bearer',
        expiresIn: 900,
      },
    ],
  },
);

export type TokenPair = Static<typeof TokenPairSchema>;

export const JwksSchema = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.String(),
      crv: Type.String(),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.String(),
      use: Type.String(),
    }),
  ),
});

const unavailable503 = () =>
  kit.errorResponse('The account store cannot be reached; try again after Retry-After', ['ERR_UNAVAILABLE'], kit.RETRY_AFTER);

/** Every answer of each operation: what it returns, and each failure with the codes it carries. */
export const AuthResponses: Record<'register' | 'login' | 'refresh' | 'logout' | 'me' | 'jwks', kit.ResponseSchemas> = {
  register: {
    201: { ...UserSchema, description: 'The account' },
    400: kit.badRequestResponse('body', 'The body is invalid, the email address is not one, or the password breaks the policy', [
      'AUTH_ERR_INVALID_EMAIL',
      'AUTH_ERR_WEAK_PASSWORD',
    ]),
    409: kit.errorResponse('An account with this email exists', ['AUTH_ERR_EMAIL_TAKEN']),
    ...kit.bodyErrorResponses(),
    503: unavailable503(),
  },
  login: {
    200: { ...TokenPairSchema, description: 'A new session' },
    400: kit.badRequestResponse('body', 'The body is invalid'),
    401: kit.errorResponse('The email or the password is wrong', ['AUTH_ERR_INVALID_CREDENTIALS']),
    ...kit.bodyErrorResponses(),
    429: kit.errorResponse(
      'Too many failed logins for this account; try again after Retry-After',
      ['AUTH_ERR_LOGIN_LOCKED'],
      kit.RETRY_AFTER,
    ),
    503: unavailable503(),
  },
  refresh: {
    200: { ...TokenPairSchema, description: 'The next pair of the same session' },
    400: kit.badRequestResponse('body', 'The body is invalid'),
    401: kit.errorResponse('The refresh token is invalid, expired, spent or revoked', ['AUTH_ERR_REFRESH_INVALID']),
    ...kit.bodyErrorResponses(),
    503: unavailable503(),
  },
  logout: {
    204: { type: 'null', description: 'The session is over' },
    400: kit.badRequestResponse('body', 'The body is invalid'),
    401: kit.errorResponse('No valid access token, or a refresh token that is not one', [
      ...kit.codesWithStatus(401, tokenErrors),
      'AUTH_ERR_REFRESH_INVALID',
    ]),
    ...kit.bodyErrorResponses(),
    503: unavailable503(),
  },
  me: {
    200: { ...UserSchema, description: 'The account' },
    401: kit.errorResponse('No valid access token', kit.codesWithStatus(401, tokenErrors)),
    404: kit.errorResponse('The account no longer exists', ['AUTH_ERR_USER_NOT_FOUND']),
    503: unavailable503(),
  },
  jwks: {
    200: {
      ...JwksSchema,
      description: 'The current key and the one before the last rotation',
      headers: { 'cache-control': { type: 'string', description: 'public, max-age=300' } },
    },
  },
};
