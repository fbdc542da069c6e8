import { Redis } from 'ioredis';

export interface RedisSettings {
  readonly url: string;
  /**
   * Bound on every command. Short on purpose: a dead Redis must fail a request's rate-limit check
   * in milliseconds, not hold the request. @default 250
   */
  readonly commandTimeoutMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
}

/**
 * A client that fails fast while Redis is unreachable (no offline queue, one attempt per command)
 * and keeps reconnecting in the background with a capped backoff.
 */
export function createRedis(settings: RedisSettings): Redis {
  return new Redis(settings.url, {
    commandTimeout: settings.commandTimeoutMs ?? 250,
    connectTimeout: settings.connectTimeoutMs ?? 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
}

/** A PING round trip, for readiness checks. */
export async function pingRedis(redis: Redis): Promise<void> {
  if (redis.status === 'wait') await redis.connect();
  const pong = await redis.ping();
  if (pong !== 'PONG') throw new Error(`unexpected PING answer ${pong}`);
}
