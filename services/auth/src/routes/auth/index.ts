import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '@taskmesh/access-token';
import { bearerSecurity } from '@taskmesh/service-kit';
import { EMAIL_MAX_LENGTH } from '../../domain/users/email.js';
import { errors } from '../../errors.js';
import {
  AuthResponses,
  COMMON_PASSWORD_PATTERN,
  EMAIL_PATTERN,
  LoginBodySchema,
  RefreshBodySchema,
  RegisterBodySchema,
} from '../../schemas/auth.js';

const EMAIL = new RegExp(EMAIL_PATTERN, 'u');
const COMMON_PASSWORD = new RegExp(COMMON_PASSWORD_PATTERN, 'u');

/** `/auth/*`: accounts and sessions. */
export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/auth/register',
    {
      // Before schema validation, so that an address or a password the schema refuses by its
      // pattern gets the policy's own code; an over-long address stays a validation error.
      preValidation: async (request) => {
        const { email, password } = (request.body ?? {}) as { email?: unknown; password?: unknown };
        if (typeof email === 'string' && [...email].length <= EMAIL_MAX_LENGTH && !EMAIL.test(email)) throw errors.AUTH_ERR_INVALID_EMAIL();
        if (typeof password === 'string' && COMMON_PASSWORD.test(password)) throw errors.AUTH_ERR_WEAK_PASSWORD();
      },
      schema: {
        tags: ['auth'],
        operationId: 'register',
        summary: 'Create an account',
        body: RegisterBodySchema,
        response: AuthResponses.register,
      },
    },
    async (request, reply) => reply.code(201).send(await app.accounts.register(request.body.email, request.body.password)),
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        operationId: 'login',
        summary: 'Exchange email and password for an access token and a refresh token',
        description: 'After repeated failures the account answers 429 with Retry-After for a while, whether or not it exists.',
        body: LoginBodySchema,
        response: AuthResponses.login,
      },
    },
    async (request) => app.accounts.login(request.body.email, request.body.password),
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        operationId: 'refresh',
        summary: 'Spend a refresh token for a new pair',
        description: 'Presenting a spent refresh token revokes its whole session.',
        body: RefreshBodySchema,
        response: AuthResponses.refresh,
      },
    },
    async (request) => app.accounts.refresh(request.body.refreshToken),
  );

  app.post(
    '/auth/logout',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['auth'],
        operationId: 'logout',
        summary: 'End the session that the refresh token belongs to',
        description: "A refresh token of another user's session, or of none, changes nothing and still answers 204.",
        security: bearerSecurity,
        body: RefreshBodySchema,
        response: AuthResponses.logout,
      },
    },
    async (request, reply) => {
      await app.accounts.logout(principalOf(request).userId, request.body.refreshToken);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['auth'],
        operationId: 'me',
        summary: 'The caller’s account',
        security: bearerSecurity,
        response: AuthResponses.me,
      },
    },
    async (request) => app.accounts.me(principalOf(request).userId),
  );
};
