import { Type, type Static } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './domain/passwords/password-policy.js';
import { EMAIL_MAX_LENGTH } from './domain/users/email.js';

// Bodies are closed: an unknown field is a 400, never silently dropped.
const strict = { additionalProperties: false } as const;

// Format is checked after trimming and lower-casing, so the schema only bounds the size.
const Email = Type.String({
  minLength: 1,
  maxLength: EMAIL_MAX_LENGTH,
  description: 'trimmed and lower-cased before use',
  examples: ['ada@example.com'],
});
const RefreshToken = Type.String({ minLength: 1, maxLength: 256, description: 'opaque; spent on use' });

export const RegisterBodySchema = Type.Object(
  {
    email: Email,
    password: Type.String({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      description: 'not one of the most common passwords',
    }),
  },
  strict,
);
export type RegisterBody = Static<typeof RegisterBodySchema>;

/** Any length up to the cap: a wrong password of any length is simply wrong (401). */
export const LoginBodySchema = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
  strict,
);
export type LoginBody = Static<typeof LoginBodySchema>;

export const RefreshBodySchema = Type.Object({ refreshToken: RefreshToken }, strict);
export type RefreshBody = Static<typeof RefreshBodySchema>;

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  strict,
);

export const TokenPairSchema = Type.Object(
  {
    accessToken: Type.String({ description: 'EdDSA JWT, typ at+jwt' }),
    refreshToken: RefreshToken,
    tokenType: Type.Literal('Bearer'),
    expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  },
  strict,
);

export const ErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });

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
