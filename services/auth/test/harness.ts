import { randomUUID } from 'node:crypto';
import { loadConfig } from '@taskmesh/service-kit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { inject } from 'vitest';
import { buildApp, type AppOptions } from '../src/app.js';
import { ConfigSchema, type Config } from '../src/config.js';
import { generateSigningKeyPem } from '../src/domain/keys/signing-keys.js';

export const PASSWORD = 'correct horse battery staple';
export const ADMIN_EMAIL = 'root@admin.example';

// The auth service's test harness: configuration on the shared servers, an app per test file
// with its own database, requests as a client makes them, and the teardown.

/** A unique database name, so that parallel runs never share state. */
export const testDbName = () => `auth_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

/** A unique address at a domain that cannot be anyone's. */
export const uniqueEmail = (tag = 'user') => `${tag}.${randomUUID().slice(0, 8)}@example.com`;

const defaultKey = generateSigningKeyPem();

/** Configuration as the service would read it from this environment, on the shared servers. */
export function testConfig(env: Record<string, string> = {}): Config {
  const infra = inject('infra');
  return loadConfig(ConfigSchema, {
    MONGODB_URI: infra.mongodbUri,
    REDIS_URL: infra.redisUrl,
    MONGODB_DB: testDbName(),
    KAFKA_BROKERS: infra.kafkaBrokers,
    AUTH_SIGNING_KEY_CURRENT: defaultKey,
    ADMIN_EMAILS: ` ${ADMIN_EMAIL.toUpperCase()} , other-admin@admin.example`,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export async function startApp(config: Config = testConfig(), opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(config, { logLevel: false, ...opts });
  await app.ready();
  return app;
}

/** Closes the app and drops its database. */
export async function stopApp(app: FastifyInstance | undefined, dropDb = true): Promise<void> {
  if (!app) return;
  // The relay's sweeps would recreate a collection in a dropped database.
  await app.userEvents.relay.stop();
  if (dropDb) await app.mongo.db.dropDatabase().catch(() => undefined);
  await app.close();
}

export function postJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function register(app: FastifyInstance, email = uniqueEmail(), password = PASSWORD) {
  const res = await postJson(app, '/auth/register', { email, password });
  if (res.statusCode !== 201) throw new Error(`register answered ${res.statusCode}: ${res.body}`);
  return res.json<{ id: string; email: string; role: string; createdAt: string }>();
}

export interface Pair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export async function login(app: FastifyInstance, email: string, password = PASSWORD): Promise<Pair> {
  const res = await postJson(app, '/auth/login', { email, password });
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`);
  return res.json<Pair>();
}

export { metricValue } from '@taskmesh/service-kit/testing';
