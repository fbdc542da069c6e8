import { CacheAside, redisPlugin, type RedisSettings } from '@taskmesh/redis';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Profile } from '../domain/accounts/account-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Each account's profile in Redis, in front of `users`; undefined when caching is off. */
    profileCache: CacheAside<Profile> | undefined;
  }
}

export interface ProfileCacheOptions {
  readonly redis: RedisSettings;
  /** How long a profile is kept; 0 turns the cache off (no Redis client at all). */
  readonly ttlSeconds: number;
  /** Keeps this service's keys apart from any other user of the same Redis, e.g. the database name. */
  readonly keyPrefix: string;
}

/** The profile cache (docs/auth.md, Profile cache): Redis as an optional dependency, never required for readiness. */
export const profileCachePlugin = fp<ProfileCacheOptions>(
  async (app: FastifyInstance, opts) => {
    if (opts.ttlSeconds === 0) {
      app.decorate('profileCache', undefined);
      return;
    }
    await app.register(redisPlugin, { ...opts.redis, readinessRequired: false });
    app.decorate(
      'profileCache',
      new CacheAside<Profile>(app.redis, {
        name: 'profile',
        keyPrefix: `${opts.keyPrefix}:profile:`,
        ttlSeconds: opts.ttlSeconds,
        registry: app.metrics,
        log: app.log,
      }),
    );
  },
  { name: 'auth-profile-cache', dependencies: ['@taskmesh/health', '@taskmesh/metrics'] },
);
