import type { FastifyInstance, FastifySchema } from 'fastify';
import type { AccountService } from '../../domain/accounts/account-service.js';
import {
  ErrorSchema,
  LoginBodySchema,
  RefreshBodySchema,
  RegisterBodySchema,
  TokenPairSchema,
  UserSchema,
  type LoginBody,
  type RefreshBody,
  type RegisterBody,
} from '../../schemas.js';

export interface AuthRoutesOptions {
  readonly accounts: AccountService;
}

const badInput = { 400: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema };
const bearer = [{ bearer: [] }];
const schema = (s: FastifySchema & { tags?: string[]; summary?: string; security?: unknown }) =>
  ({ tags: ['auth'], ...s }) as FastifySchema;

/** `/auth/*`: accounts and sessions. */
export async function authRoutes(app: FastifyInstance, { accounts }: AuthRoutesOptions): Promise<void> {
  app.post<{ Body: RegisterBody }>(
    '/auth/register',
    {
      schema: schema({
        summary: 'Create an account',
        body: RegisterBodySchema,
        response: { 201: UserSchema, ...badInput, 409: ErrorSchema },
      }),
    },
    async (request, reply) => reply.code(201).send(await accounts.register(request.body.email, request.body.password)),
  );

  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      schema: schema({
        summary: 'Exchange email and password for an access token and a refresh token',
        description: 'After repeated failures the account answers 429 with Retry-After for a while, whether or not it exists.',
        body: LoginBodySchema,
        response: { 200: TokenPairSchema, ...badInput, 401: ErrorSchema, 429: ErrorSchema },
      }),
    },
    async (request) => accounts.login(request.body.email, request.body.password),
  );

  app.post<{ Body: RefreshBody }>(
    '/auth/refresh',
    {
      schema: schema({
        summary: 'Spend a refresh token for a new pair',
        description: 'Presenting a spent refresh token revokes its whole session.',
        body: RefreshBodySchema,
        response: { 200: TokenPairSchema, ...badInput, 401: ErrorSchema },
      }),
    },
    async (request) => accounts.refresh(request.body.refreshToken),
  );

  app.post<{ Body: RefreshBody }>(
    '/auth/logout',
    {
      preHandler: app.authenticate,
      schema: schema({
        summary: 'End the session that the refresh token belongs to',
        security: bearer,
        body: RefreshBodySchema,
        response: { 204: { type: 'null', description: 'the session is over' }, ...badInput, 401: ErrorSchema },
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
        summary: 'The caller’s account',
        security: bearer,
        response: { 200: UserSchema, 401: ErrorSchema, 404: ErrorSchema },
      }),
    },
    async (request) => accounts.me(request.principal!.userId),
  );
}
