import { redisPlugin } from '@taskmesh/redis';
import { createServiceApp } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { listSetting, type Config } from './config.js';
import { authenticationPlugin } from './plugins/authentication.js';
import { openApiPlugin } from './plugins/openapi.js';
import { rateLimitsPlugin } from './plugins/rate-limits.js';
import { securityPlugin } from './plugins/security.js';
import { upstreamOptionsFrom, upstreamsPlugin } from './plugins/upstreams.js';
import { proxyRoutes } from './routes/index.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
}

/** Builds the gateway; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const trusted = listSetting(config.TRUSTED_PROXIES);
  const app = await createServiceApp({
    service: 'gateway',
    logLevel: opts.logLevel ?? config.LOG_LEVEL,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // The client address comes from X-Forwarded-For only when the peer is one of these.
    trustProxy: trusted.length > 0 ? trusted : false,
  });

  // Shared plugins (packages/): Redis, reported in readiness, not required: the rate limiter's
  // Redis-down policy answers for it.
  await app.register(redisPlugin, { url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, readinessRequired: false });

  // The gateway's own plugins (src/plugins/), each decorating the app with what it builds.
  await app.register(securityPlugin, { corsOrigins: listSetting(config.CORS_ORIGINS) });
  await app.register(upstreamsPlugin, upstreamOptionsFrom(config));
  await app.register(authenticationPlugin, {
    verifier: {
      jwksUrl: config.JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      refetchCooldownMs: config.JWKS_REFETCH_COOLDOWN_MS,
    },
    cacheSize: config.TOKEN_CACHE_SIZE,
  });
  await app.register(rateLimitsPlugin, {
    authMax: config.RATE_LIMIT_AUTH_PER_MINUTE,
    apiMax: config.RATE_LIMIT_API_PER_MINUTE,
    windowMs: config.RATE_LIMIT_WINDOW_MS,
    keyPrefix: config.RATE_LIMIT_KEY_PREFIX,
  });
  await app.register(openApiPlugin, { cacheMs: config.DOCS_CACHE_MS });

  // Entry points (src/routes/).
  await app.register(proxyRoutes);
  return app;
}
