import '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { createRedis, pingRedis, type RedisSettings } from './client.js';

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
  }
}

/**
 * One Redis client per process. Start does not wait for Redis: a service whose Redis is down
 * still starts, reports it in readiness, and connects when Redis returns.
 */
export interface RedisPluginOptions extends RedisSettings {
  /** Whether an unreachable Redis makes the instance unready (else it is only reported). @default true */
  readonly readinessRequired?: boolean;
}

export const redisPlugin = fp<RedisPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const redis = createRedis(opts);
    redis.on('error', (err: Error) => app.log.debug({ err }, 'redis connection error'));
    redis.connect().catch((err: Error) => app.log.warn({ err }, 'redis not reachable at start; retrying in the background'));
    app.decorate('redis', redis);
    app.readiness?.add('redis', () => pingRedis(redis), { required: opts.readinessRequired ?? true });
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
  },
  { name: '@taskmesh/redis', dependencies: ['@taskmesh/health'] },
);
