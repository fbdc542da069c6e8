import { AppError } from '@taskmesh/fastify-plugins';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { TokenError, bearerToken, type Principal, type Role, type VerifyAccessToken } from './token.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; set by `app.authenticate`. */
    principal?: Principal;
  }
  interface FastifyInstance {
    /** A preHandler that verifies the bearer token and sets `request.principal`, or answers 401. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** A preHandler that answers 403 unless the caller has the role. Use after `authenticate`. */
    requireRole: (role: Role) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

export interface AccessTokenPluginOptions {
  readonly verify: VerifyAccessToken;
}

const challenge = (code: string) => ({ 'www-authenticate': `Bearer error="invalid_token", error_description="${code}"` });

export const accessTokenPlugin = fp<AccessTokenPluginOptions>(
  async (app: FastifyInstance, opts) => {
    app.decorateRequest('principal', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw new AppError('AUTH_ERR_TOKEN_MISSING', 401, 'a bearer token is required', { 'www-authenticate': 'Bearer' });
      try {
        request.principal = await opts.verify(token);
      } catch (err) {
        if (err instanceof TokenError) {
          const status = err.code === 'AUTH_ERR_KEYS_UNAVAILABLE' ? 503 : 401;
          throw new AppError(err.code, status, err.message, status === 401 ? challenge(err.code) : { 'retry-after': '2' });
        }
        throw err;
      }
    });
    app.decorate('requireRole', (role: Role) => async (request: FastifyRequest) => {
      if (request.principal?.role !== role) throw new AppError('AUTH_ERR_FORBIDDEN', 403, `the ${role} role is required`);
    });
  },
  { name: '@taskmesh/access-token' },
);
