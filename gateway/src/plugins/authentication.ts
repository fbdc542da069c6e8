import {
  TokenError,
  bearerToken,
  createAccessTokenVerifier,
  missingRole,
  missingToken,
  tokenFailure,
  type Role,
  type VerifierOptions,
} from '@taskmesh/access-token';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { TokenCache } from '../domain/token-cache.js';

export interface AuthenticationOptions {
  /** auth's JWKS and the claims a token must carry. */
  readonly verifier: VerifierOptions;
  /** Verified tokens kept until they expire; 0 verifies every request. */
  readonly cacheSize: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** `authenticate` as a callback-style onRequest hook, for the proxied routes. */
    authenticateHook: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
  }
}

/**
 * `app.authenticate` and `app.authenticateHook` (verify the bearer access token and set
 * `request.principal`, or answer 401) and `app.requireRole(role)` (403), with the same names and
 * codes as the services' `accessTokenPlugin`. It also answers 401 for any path the gateway does not route, so that a
 * caller without a valid token learns nothing about which paths exist.
 */
export const authenticationPlugin = fp<AuthenticationOptions>(
  async (app: FastifyInstance, opts) => {
    const tokens = new TokenCache(createAccessTokenVerifier(opts.verifier), { maxEntries: opts.cacheSize });
    app.decorateRequest('principal', undefined);

    const failure = (err: unknown): unknown => (err instanceof TokenError ? tokenFailure(err) : err);
    // An opaque refresh token, a Basic credential or anything else that is not a JWT.
    const notAccessToken = () => tokenFailure(new TokenError('AUTH_ERR_TOKEN_INVALID', 'the bearer token is not an access token'));

    const authenticate = async (request: FastifyRequest): Promise<void> => {
      const header = request.headers.authorization;
      if (header === undefined || header === '') throw missingToken();
      const token = bearerToken(header);
      if (token === undefined) throw notAccessToken();
      try {
        request.principal = await tokens.verify(token);
      } catch (err) {
        throw failure(err);
      }
    };

    /**
     * The same check as an onRequest hook in callback style: a token seen before is answered
     * from the cache without a promise, which is most requests.
     */
    const authenticateHook = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      const header = request.headers.authorization;
      if (header === undefined || header === '') return done(missingToken());
      const token = bearerToken(header);
      if (token === undefined) return done(notAccessToken());
      const principal = tokens.lookup(token);
      if (principal !== undefined) {
        request.principal = principal;
        return done();
      }
      tokens.verify(token).then(
        (verified) => {
          request.principal = verified;
          done();
        },
        (err: unknown) => done(failure(err) as Error),
      );
    };
    app.decorate('authenticate', authenticate);
    app.decorate('authenticateHook', authenticateHook);
    app.decorate('requireRole', (role: Role) => async (request: FastifyRequest) => {
      if (request.principal?.role !== role) throw missingRole(role);
    });

    // Callback style: this runs on every request, and the common case must not cost a promise.
    app.addHook('onRequest', (request, _reply, done) => {
      if (!request.is404) return done();
      authenticate(request).then(() => done(), done);
    });
  },
  { name: 'gateway-authentication' },
);
