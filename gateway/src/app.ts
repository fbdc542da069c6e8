import { createAccessTokenVerifier } from '@taskmesh/access-token';
import { createServiceApp } from '@taskmesh/service-kit';
import { redisPlugin } from '@taskmesh/redis';
import type { FastifyInstance } from 'fastify';
import { listSetting, type Config } from './config.js';
import { TokenCache } from './domain/token-cache.js';
import type { BreakerSettings, UpstreamName } from './domain/upstream.js';
import { authenticationPlugin } from './plugins/authentication.js';
import { openApiPlugin } from './plugins/openapi.js';
import { rateLimitsPlugin } from './plugins/rate-limits.js';
import { securityPlugin } from './plugins/security.js';
import { upstreamsPlugin } from './plugins/upstreams.js';
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

  // Reported in readiness, not required: the rate limiter's Redis-down policy answers for it.
  await app.register(redisPlugin, { url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, readinessRequired: false });
  await app.register(securityPlugin, { corsOrigins: listSetting(config.CORS_ORIGINS) });

  const breaker: BreakerSettings = {
    errorThresholdPercentage: config.BREAKER_ERROR_THRESHOLD_PERCENTAGE,
    volumeThreshold: config.BREAKER_VOLUME_THRESHOLD,
    resetTimeoutMs: config.BREAKER_RESET_TIMEOUT_MS,
    rollingWindowMs: config.BREAKER_ROLLING_WINDOW_MS,
  };
  const upstream = (name: UpstreamName, origin: string, timeoutMs: number) => ({
    name,
    origin,
    timeoutMs,
    connections: config.UPSTREAM_CONNECTIONS,
    pipelining: config.UPSTREAM_PIPELINING,
    responseLimitBytes: config.UPSTREAM_RESPONSE_LIMIT_BYTES,
    breaker,
  });
  await app.register(upstreamsPlugin, {
    upstreams: [
      upstream('auth', config.AUTH_URL, config.AUTH_TIMEOUT_MS),
      upstream('task', config.TASK_URL, config.TASK_TIMEOUT_MS),
      upstream('analytics', config.ANALYTICS_URL, config.ANALYTICS_TIMEOUT_MS),
    ],
  });

  const verify = createAccessTokenVerifier({
    jwksUrl: config.JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    refetchCooldownMs: config.JWKS_REFETCH_COOLDOWN_MS,
  });
  await app.register(authenticationPlugin, { tokens: new TokenCache(verify, { maxEntries: config.TOKEN_CACHE_SIZE }) });
  await app.register(rateLimitsPlugin, {
    authMax: config.RATE_LIMIT_AUTH_PER_MINUTE,
    apiMax: config.RATE_LIMIT_API_PER_MINUTE,
    windowMs: config.RATE_LIMIT_WINDOW_MS,
    keyPrefix: config.RATE_LIMIT_KEY_PREFIX,
  });
  await app.register(openApiPlugin, { cacheMs: config.DOCS_CACHE_MS });
  await app.register(proxyRoutes);
  return app;
}
