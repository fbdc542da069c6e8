import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { missingRole, missingToken, tokenFailure } from './errors.js';
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

export const accessTokenPlugin = fp<AccessTokenPluginOptions>(
  async (app: FastifyInstance, opts) => {
    app.decorateRequest('principal', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw missingToken();
      try {
        request.principal = await opts.verify(token);
      } catch (err) {
        throw err instanceof TokenError ? tokenFailure(err) : err;
      }
    });
    app.decorate('requireRole', (role: Role) => async (request: FastifyRequest) => {
      if (request.principal?.role !== role) throw missingRole(role);
    });
  },
  { name: '@taskmesh/access-token' },
);
