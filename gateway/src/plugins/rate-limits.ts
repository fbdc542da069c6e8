import rateLimit, { type FastifyRateLimitStore, type RateLimitOptions } from '@fastify/rate-limit';
import '@taskmesh/redis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { BatchedCounter, type Count } from '../domain/batched-counter.js';
import { errors } from '../errors.js';
import type { Bucket } from '../routes/public-api.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The `config.rateLimit` of a route counting against `bucket`; the route must also carry
     * `config.bucket`. Its hook runs after the route's own onRequest hooks (`authenticate` first,
     * where the key is the user).
     */
    rateLimitFor: (bucket: Bucket) => RateLimitOptions;
  }
  interface FastifyContextConfig {
    /** The rate-limit bucket the route counts against (names its metrics and its Redis-down policy). */
    bucket?: Bucket;
  }
}

export interface RateLimitsOptions {
  /** Per client IP per window, on login and on register (each its own bucket). */
  readonly authMax: number;
  /** Per user (authenticated routes) or per client IP (other public routes) per window. */
  readonly apiMax: number;
  readonly windowMs: number;
  /** Prefix of every counter's Redis key. */
  readonly keyPrefix: string;
}

/** Seconds a client is told to wait while the limiter's Redis is unreachable. */
const UNAVAILABLE_RETRY_AFTER = '5';

const UNITS: readonly [number, string][] = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** "38 seconds", "1 minute": the wording the 429 message has always used. */
export function waitWording(ms: number): string {
  for (const [size, unit] of UNITS) {
    if (ms < size) continue;
    const n = Math.round(ms / size);
    return `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return `${ms} ms`;
}

/**
 * Rate limits counted in Redis so that every gateway replica counts against the same numbers
 * (fixed windows; the counts of one event-loop turn go to Redis in one script call, see
 * {@link BatchedCounter}), applied by @fastify/rate-limit: per-route `config.rateLimit` (one per
 * bucket), its onRequest hook, its draft-spec headers (`RateLimit-Limit`, `RateLimit-Remaining`,
 * `RateLimit-Reset`, and `Retry-After` on a 429) and `onExceeded`, with the batched counter as
 * its custom store.
 *
 * When Redis cannot be reached, login and register answer 503 with Retry-After: without a
 * shared count there would be no limit on password guessing. Every other route is let through
 * uncounted (`skipOnError`), so that a Redis outage does not become an outage of the whole API;
 * the lapse is logged and counted in `gateway_rate_limit_unavailable_total`.
 */
export const rateLimitsPlugin = fp<RateLimitsOptions>(
  async (app: FastifyInstance, opts) => {
    const rejections = new Counter({
      name: 'gateway_rate_limit_rejections_total',
      help: 'Requests refused with 429, by rate-limit bucket',
      labelNames: ['bucket'] as const,
      registers: [app.metrics],
    });
    const unavailable = new Counter({
      name: 'gateway_rate_limit_unavailable_total',
      help: 'Requests whose rate limit could not be checked because Redis did not answer, by bucket',
      labelNames: ['bucket'] as const,
      registers: [app.metrics],
    });

    const counter = new BatchedCounter(app.redis, opts.keyPrefix);
    const failClosed = (bucket: Bucket) => bucket === 'login' || bucket === 'register';

    /** The store of one bucket: counts in the batched counter, and applies the Redis-down policy. */
    class BucketStore implements FastifyRateLimitStore {
      constructor(private readonly bucket?: Bucket) {}

      incr(key: string, cb: (err: Error | null, count?: Count) => void, timeWindow?: number): void {
        const bucket = this.bucket;
        if (bucket === undefined) throw new Error(`rate-limited route without config.bucket (key ${key})`);
        counter.incr(key, timeWindow ?? opts.windowMs, (err, count) => {
          if (err === null && count !== undefined) return cb(null, count);
          unavailable.labels(bucket).inc();
          const refuse = failClosed(bucket);
          app.log.warn(
            { err, bucket },
            refuse ? 'rate limiter unreachable: refusing' : 'rate limiter unreachable: letting the request through',
          );
          // A fail-closed bucket's route answers this error; the others skip it (skipOnError).
          cb(
            refuse
              ? errors.GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE(undefined, { 'retry-after': UNAVAILABLE_RETRY_AFTER })
              : (err ?? new Error('no count')),
          );
        });
      }

      child(params: unknown): FastifyRateLimitStore {
        return new BucketStore((params as { routeInfo: { config?: { bucket?: Bucket } } }).routeInfo.config?.bucket);
      }
    }

    await app.register(rateLimit, {
      global: false,
      enableDraftSpec: true,
      timeWindow: opts.windowMs,
      store: BucketStore as unknown as NonNullable<RateLimitOptions['store']>,
    });

    const keys: Record<Bucket, (r: FastifyRequest) => string> = {
      login: (r) => `login:${r.ip}`,
      register: (r) => `register:${r.ip}`,
      anonymous: (r) => `ip:${r.ip}`,
      user: (r) => `user:${r.principal!.userId}`,
    };
    const limits = {} as Record<Bucket, RateLimitOptions>;
    for (const bucket of Object.keys(keys) as Bucket[]) {
      const counted = rejections.labels(bucket);
      limits[bucket] = {
        max: failClosed(bucket) ? opts.authMax : opts.apiMax,
        timeWindow: opts.windowMs,
        keyGenerator: keys[bucket],
        skipOnError: !failClosed(bucket),
        onExceeded: () => counted.inc(),
        errorResponseBuilder: (_request, context) =>
          errors.GATEWAY_ERR_RATE_LIMITED(`too many requests; retry in ${waitWording(Math.ceil(context.ttl / 1000) * 1000)}`),
      };
    }
    app.decorate('rateLimitFor', (bucket: Bucket) => limits[bucket]);
  },
  { name: 'gateway-rate-limits', dependencies: ['@taskmesh/redis', '@taskmesh/metrics'] },
);
