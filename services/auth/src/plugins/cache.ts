import { cachePlugin, type CacheAside } from '@taskmesh/redis';
import type { Profile } from '../domain/accounts/account-service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Each account's profile in Redis, in front of `users`; undefined when caching is off. */
    profileCache: CacheAside<Profile> | undefined;
  }
}

/** The profile cache (docs/auth.md, Profile cache): nothing changes a cached profile's fields, so it is only ever expired. */
export const profileCachePlugin = cachePlugin<Profile>('profileCache', 'profile');
