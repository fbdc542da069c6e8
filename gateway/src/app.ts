import { createServiceApp } from '@taskmesh/fastify-plugins';
import { redisPlugin } from '@taskmesh/redis';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';

export interface AppOptions {
  readonly logLevel?: string | false;
}

/** Builds the gateway; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ service: 'gateway', logLevel: opts.logLevel ?? config.LOG_LEVEL });
  await app.register(redisPlugin, { url: config.REDIS_URL });
  for (const [name, base] of [['auth', config.AUTH_URL], ['task', config.TASK_URL], ['analytics', config.ANALYTICS_URL]] as const) {
    app.readiness.add(name, async () => {
      const res = await fetch(new URL('/health/ready', base), { signal: AbortSignal.timeout(900) });
      if (!res.ok) throw new Error(`${name} answered ${res.status}`);
    });
  }
  return app;
}
