import { bearerSecurity } from '@taskmesh/service-kit';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { AccountService } from '../../domain/accounts/account-service.js';
import { EMAIL_MAX_LENGTH } from '../../domain/users/email.js';
import { errors } from '../../errors.js';
import {
  AuthResponses,
  COMMON_PASSWORD_PATTERN,
  EMAIL_PATTERN,
  LoginBodySchema,
  RefreshBodySchema,
  RegisterBodySchema,
  type LoginBody,
  type RefreshBody,
  type RegisterBody,
} from '../../schemas/auth.js';

export interface AuthRoutesOptions {
  readonly accounts: AccountService;
}

const bearer = bearerSecurity;
const EMAIL = new RegExp(EMAIL_PATTERN, 'u');
const COMMON_PASSWORD = new RegExp(COMMON_PASSWORD_PATTERN, 'u');
const schema = (s: FastifySchema & { tags?: string[]; summary?: string; description?: string; operationId?: string; security?: unknown }) =>
  ({ tags: ['auth'], ...s }) as FastifySchema;

/** `/auth/*`: accounts and sessions. */
export async function authRoutes(app: FastifyInstance, { accounts }: AuthRoutesOptions): Promise<void> {
  app.post<{ Body: RegisterBody }>(
    '/auth/register',
    {
      // Before schema validation, so that an address or a password the schema refuses by its
      // pattern gets the policy's own code; an over-long address stays a validation error.
      preValidation: async (request) => {
        const { email, password } = (request.body ?? {}) as { email?: unknown; password?: unknown };
        if (typeof email === 'string' && [...email].length <= EMAIL_MAX_LENGTH && !EMAIL.test(email)) throw errors.AUTH_ERR_INVALID_EMAIL();
        if (typeof password === 'string' && COMMON_PASSWORD.test(password)) throw errors.AUTH_ERR_WEAK_PASSWORD();
      },
      schema: schema({
        operationId: 'register',
        summary: 'Create an account',
        body: RegisterBodySchema,
        response: AuthResponses.register,
      }),
    },
    async (request, reply) => reply.code(201).send(await accounts.register(request.body.email, request.body.password)),
  );

  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      schema: schema({
        operationId: 'login',
        summary: 'Exchange email and password for an access token and a refresh token',
        description: 'After repeated failures the account answers 429 with Retry-After for a while, whether or not it exists.',
        body: LoginBodySchema,
        response: AuthResponses.login,
      }),
    },
    async (request) => accounts.login(request.body.email, request.body.password),
  );

  app.post<{ Body: RefreshBody }>(
    '/auth/refresh',
    {
      schema: schema({
        operationId: 'refresh',
        summary: 'Spend a refresh token for a new pair',
        description: 'Presenting a spent refresh token revokes its whole session.',
        body: RefreshBodySchema,
        response: AuthResponses.refresh,
      }),
    },
    async (request) => accounts.refresh(request.body.refreshToken),
  );

  app.post<{ Body: RefreshBody }>(
    '/auth/logout',
    {
      preHandler: app.authenticate,
      schema: schema({
        operationId: 'logout',
        summary: 'End the session that the refresh token belongs to',
        description: "A refresh token of another user's session, or of none, changes nothing and still answers 204.",
        security: bearer,
        body: RefreshBodySchema,
        response: AuthResponses.logout,
      }),
    },
    async (request, reply) => {
      await accounts.logout(request.principal!.userId, request.body.refreshToken);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      preHandler: app.authenticate,
      schema: schema({
        operationId: 'me',
        summary: 'The caller’s account',
        security: bearer,
        response: AuthResponses.me,
      }),
    },
    async (request) => accounts.me(request.principal!.userId),
  );
}
