import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { missingRole, missingToken, tokenFailure } from './errors.js';
import { TokenCache } from './token-cache.js';
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
  /**
   * Verified tokens kept until they expire ({@link TokenCache}); 0 verifies every request.
   * @default 10000
   */
  readonly cacheSize?: number;
}

/**
 * The verified caller of a request that `app.authenticate` has let through. A route that does not
 * authenticate answers 401 here rather than acting for nobody.
 */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw missingToken();
  return request.principal;
}

export const accessTokenPlugin = fp<AccessTokenPluginOptions>(
  async (app: FastifyInstance, opts) => {
    app.decorateRequest('principal', undefined);
    const tokens = new TokenCache(opts.verify, { maxEntries: opts.cacheSize ?? 10_000 });
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      if (!token) throw missingToken();
      const known = tokens.lookup(token);
      if (known !== undefined) {
        request.principal = known;
        return;
      }
      try {
        request.principal = await tokens.verify(token);
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
