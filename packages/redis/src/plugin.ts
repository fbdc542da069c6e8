import '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { CacheAside } from './cache.js';
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

export interface CachePluginOptions {
  readonly redis: RedisSettings;
  /** How long a value is kept, the bound on staleness when an invalidation is lost; 0 turns the cache off (no Redis client at all). */
  readonly ttlSeconds: number;
  /** Keeps this service's keys apart from any other user of the same Redis, e.g. the database name. */
  readonly keyPrefix: string;
}

/**
 * A plugin that decorates the app with one cache-aside in front of a collection (`name`, e.g.
 * `profile`), or with undefined when caching is off. Redis is an optional dependency: never
 * required for readiness, and a failing Redis only sends reads to the store.
 */
export function cachePlugin<T>(decorator: string, name: string) {
  return fp<CachePluginOptions>(
    async (app: FastifyInstance, opts) => {
      if (opts.ttlSeconds === 0) {
        app.decorate(decorator, undefined);
        return;
      }
      await app.register(redisPlugin, { ...opts.redis, readinessRequired: false });
      app.decorate(
        decorator,
        new CacheAside<T>(app.redis, {
          name,
          keyPrefix: `${opts.keyPrefix}:${name}:`,
          ttlSeconds: opts.ttlSeconds,
          registry: app.metrics,
          log: app.log,
        }),
      );
    },
    { name: `${name}-cache`, dependencies: ['@taskmesh/health', '@taskmesh/metrics'] },
  );
}
