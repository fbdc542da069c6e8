import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import { kafkaPlugin, parseBrokers } from '@taskmesh/kafka';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import { adminEmails, type Config } from './config.js';
import { loadKeyRing, type KeyRing } from './domain/keys/signing-keys.js';
import { accountsPlugin } from './plugins/accounts.js';
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

declare module 'fastify' {
  interface FastifyInstance {
    /** The signing keys this instance uses and publishes. */
    keys: KeyRing;
  }
}

/** Auth bodies are a few hundred bytes; anything near this is not a login. */
const BODY_LIMIT_BYTES = 8 * 1024;

/** Builds the auth service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  // Keys first: a bad key fails the start before anything connects.
  const keys = await loadKeyRing({
    currentPem: config.AUTH_SIGNING_KEY_CURRENT,
    previousPem: config.AUTH_SIGNING_KEY_PREVIOUS,
    keyDir: config.AUTH_KEY_DIR,
  });

  const app = await createServiceApp({ service: 'auth', logLevel: opts.logLevel ?? config.LOG_LEVEL, bodyLimit: BODY_LIMIT_BYTES });
  // Fastify parses text/plain by default; here every body is JSON, anything else is a 415.
  app.removeContentTypeParser('text/plain');
  app.decorate('keys', keys);

  await app.register(openApiPlugin, { title: 'taskmesh auth', description: 'Accounts, sessions and signing keys' });
  await app.register(mongoPlugin, mongoOptionsFrom(config, 'auth'));
  await app.register(kafkaPlugin, { brokers: parseBrokers(config.KAFKA_BROKERS), clientId: 'auth' });
  // Own tokens are checked against own keys in memory: no HTTP round trip to itself.
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwks: keys.jwks, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });

  await app.register(repositoriesPlugin, {
    throttle: {
      maxFailures: config.LOGIN_MAX_FAILURES,
      windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
      lockoutSeconds: config.LOGIN_LOCKOUT_SECONDS,
    },
  });
  await app.register(outboxPlugin, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS, graceMs: config.OUTBOX_RELAY_GRACE_MS });
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

  await app.register(authRoutes, { accounts: app.accounts });
  await app.register(wellKnownRoutes, { keys });
  return app;
}
