import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { kafkaPlugin, parseBrokers } from '@taskmesh/kafka';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { adminEmails, type Config } from './config.js';
import { accountsPlugin } from './plugins/accounts.js';
import { keysPlugin } from './plugins/keys.js';
import { profileCachePlugin } from './plugins/cache.js';
import { outboxPlugin } from './plugins/outbox.js';
import { repositoriesPlugin } from './plugins/repositories.js';
import { authRoutes } from './routes/auth/index.js';
import { wellKnownRoutes } from './routes/well-known/index.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
  /** The clock for sessions and lockouts (tests). */
  readonly now?: () => Date;
}

/** Auth bodies are a few hundred bytes; anything near this is not a login. */
const BODY_LIMIT_BYTES = 8 * 1024;

/** Builds the auth service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ service: 'auth', logLevel: opts.logLevel ?? config.LOG_LEVEL, bodyLimit: BODY_LIMIT_BYTES });
  // Keys first: a bad key fails the start before anything connects.
  await app.register(keysPlugin, {
    currentPem: config.AUTH_SIGNING_KEY_CURRENT,
    previousPem: config.AUTH_SIGNING_KEY_PREVIOUS,
    keyDir: config.AUTH_KEY_DIR,
  });

  // Shared plugins (packages/): the API document, the stores, Kafka, access tokens.
  await app.register(openApiPlugin, { title: 'taskmesh auth', description: 'Accounts, sessions and signing keys' });
  await app.register(mongoPlugin, mongoOptionsFrom(config, 'auth'));
  await app.register(kafkaPlugin, { brokers: parseBrokers(config.KAFKA_BROKERS), clientId: 'auth' });
  // Own tokens are checked against own keys in memory: no HTTP round trip to itself.
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwks: app.keys.jwks, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });

  // The service's own plugins (src/plugins/), each decorating the app with what it builds.
  await app.register(repositoriesPlugin, {
    throttle: {
      maxFailures: config.LOGIN_MAX_FAILURES,
      windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
      lockoutSeconds: config.LOGIN_LOCKOUT_SECONDS,
    },
  });
  await app.register(outboxPlugin, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS, graceMs: config.OUTBOX_RELAY_GRACE_MS });
  await app.register(profileCachePlugin, {
    redis: { url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS },
    ttlSeconds: config.CACHE_TTL_SECONDS,
    keyPrefix: config.MONGODB_DB,
  });
  await app.register(accountsPlugin, {
    settings: {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      adminEmails: adminEmails(config),
    },
    ...(opts.now ? { now: opts.now } : {}),
  });

  // Entry points (src/routes/).
  await app.register(authRoutes);
  await app.register(wellKnownRoutes);
  return app;
}
