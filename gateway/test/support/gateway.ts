import { randomUUID } from 'node:crypto';
import { loadConfig } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { ConfigSchema, type Config } from '../../src/config.js';

/**
 * A gateway configuration for tests: upstream URLs, JWKS and Redis as given, a counter prefix of
 * its own on the shared Redis (so parallel runs never share a bucket), and any overrides.
 */
export function testConfig(env: Record<string, string | number>): Config {
  const raw: Record<string, string> = { RATE_LIMIT_KEY_PREFIX: `test:gateway:${randomUUID()}:`, LOG_LEVEL: 'silent' };
  for (const [k, v] of Object.entries(env)) raw[k] = String(v);
  return loadConfig(ConfigSchema, raw);
}

/** Builds a gateway and waits for its Redis connection, so that the first request is counted. */
export async function startGateway(config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config, { logLevel: false });
  await app.ready();
  const deadline = Date.now() + 5000;
  while (app.redis.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return app;
}
