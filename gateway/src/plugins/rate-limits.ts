import '@taskmesh/redis';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { BatchedCounter, type Count } from '../domain/batched-counter.js';
import { errors } from '../errors.js';
import type { Bucket } from '../routes/public-api.js';

/** A callback-style onRequest hook that counts the request against one bucket, or refuses it. */
export type Limiter = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /** One limiter per bucket, to be placed after `authenticate` where the key is the user. */
    limiters: Record<Bucket, Limiter>;
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
 * {@link BatchedCounter}), with the answers of @fastify/rate-limit in its draft-spec mode:
 * `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, and `Retry-After` on a 429.
 * The plugin itself was replaced by this callback hook because on every request it ran two async
 * functions and a promise around the store's callback, which the profile showed as a
 * measurable share of the gateway's time; the counting was always the store's.
 *
 * When Redis cannot be reached, login and register answer 503 with Retry-After: without a
 * shared count there would be no limit on password guessing. Every other route is let through
 * uncounted, so that a Redis outage does not become an outage of the whole API; the lapse is
 * logged and counted in `gateway_rate_limit_unavailable_total`.
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
    const { windowMs } = opts;

    const limiter = (bucket: Bucket, max: number, key: (request: FastifyRequest) => string, failClosed: boolean): Limiter => {
      const counted = rejections.labels(bucket);
      const lapsed = unavailable.labels(bucket);
      const limit = String(max);
      return (request, reply, done) => {
        counter.incr(key(request), windowMs, (err: Error | null, count?: Count) => {
          if (err !== null || count === undefined) {
            lapsed.inc();
            request.log.warn(
              { err, bucket },
              failClosed ? 'rate limiter unreachable: refusing' : 'rate limiter unreachable: letting the request through',
            );
            if (failClosed) return done(errors.GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE(undefined, { 'retry-after': UNAVAILABLE_RETRY_AFTER }));
            return done();
          }
          const reset = String(Math.ceil(count.ttl / 1000));
          void reply.header('ratelimit-limit', limit);
          if (count.current <= max) {
            void reply.header('ratelimit-remaining', String(max - count.current)).header('ratelimit-reset', reset);
            return done();
          }
          counted.inc();
          void reply.header('ratelimit-remaining', '0').header('ratelimit-reset', reset).header('retry-after', reset);
          done(errors.GATEWAY_ERR_RATE_LIMITED(`too many requests; retry in ${waitWording(Number(reset) * 1000)}`));
        });
      };
    };

    app.decorate('limiters', {
      login: limiter('login', opts.authMax, (r) => `login:${r.ip}`, true),
      register: limiter('register', opts.authMax, (r) => `register:${r.ip}`, true),
      anonymous: limiter('anonymous', opts.apiMax, (r) => `ip:${r.ip}`, false),
      user: limiter('user', opts.apiMax, (r) => `user:${r.principal!.userId}`, false),
    });
  },
  { name: 'gateway-rate-limits', dependencies: ['@taskmesh/redis', '@taskmesh/metrics'] },
);
