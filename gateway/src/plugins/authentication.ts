import { TokenError, bearerToken, type Principal, type Role, type VerifyAccessToken } from '@taskmesh/access-token';
import { AppError } from '@taskmesh/fastify-plugins';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export interface AuthenticationOptions {
  /** The shared verifier (usually wrapped in the token cache). */
  readonly verify: VerifyAccessToken;
}

const challenge = (code: string) => ({ 'www-authenticate': `Bearer error="invalid_token", error_description="${code}"` });

function tokenFailure(err: TokenError): AppError {
  if (err.code === 'AUTH_ERR_KEYS_UNAVAILABLE') return new AppError(err.code, 503, err.message, { 'retry-after': '2' });
  return new AppError(err.code, 401, err.message, challenge(err.code));
}

/**
 * `app.authenticate` (verifies the bearer access token and sets `request.principal`, or answers
 * 401) and `app.requireRole(role)` (403), with the same names and codes as the services'
 * `accessTokenPlugin`. It also answers 401 for any path the gateway does not route, so that a
 * caller without a valid token learns nothing about which paths exist.
 */
export const authenticationPlugin = fp<AuthenticationOptions>(
  async (app: FastifyInstance, opts) => {
    const { verify } = opts;
    app.decorateRequest('principal', undefined);

    const authenticate = async (request: FastifyRequest): Promise<void> => {
      const header = request.headers.authorization;
      if (header === undefined || header === '') {
        throw new AppError('AUTH_ERR_TOKEN_MISSING', 401, 'a bearer token is required', { 'www-authenticate': 'Bearer' });
      }
      const token = bearerToken(header);
      // An opaque refresh token, a Basic credential or anything else that is not a JWT.
      if (token === undefined) throw tokenFailure(new TokenError('AUTH_ERR_TOKEN_INVALID', 'the bearer token is not an access token'));
      let principal: Principal;
      try {
        principal = await verify(token);
      } catch (err) {
        if (err instanceof TokenError) throw tokenFailure(err);
        throw err;
      }
      request.principal = principal;
    };
    app.decorate('authenticate', authenticate);
    app.decorate('requireRole', (role: Role) => async (request: FastifyRequest) => {
      if (request.principal?.role !== role) throw new AppError('AUTH_ERR_FORBIDDEN', 403, `the ${role} role is required`);
    });

    // Callback style: this runs on every request, and the common case must not cost a promise.
    app.addHook('onRequest', (request, _reply, done) => {
      if (!request.is404) return done();
      authenticate(request).then(() => done(), done);
    });
  },
  { name: 'gateway-authentication' },
);
