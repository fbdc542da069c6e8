import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import '@taskmesh/redis';
import { AppError } from '@taskmesh/fastify-plugins';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import { BatchedCounter } from '../domain/batched-counter.js';
import { errors } from '../errors.js';
import type { Bucket } from '../routes/public-api.js';

/** An onRequest hook that counts the request against one bucket, or refuses it. */
export type Limiter = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

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

/**
 * A @fastify/rate-limit store over {@link BatchedCounter}. Keys already name their bucket
 * (`login:<ip>`, `user:<id>`), so every limiter shares the one store.
 */
function batchedStore(counter: BatchedCounter): FastifyRateLimitStoreCtor {
  return class BatchedStore implements FastifyRateLimitStore {
    incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow?: number): void {
      counter.incr(key, timeWindow!, callback);
    }
    child(): FastifyRateLimitStore {
      return this;
    }
  };
}

/**
 * Rate limits by @fastify/rate-limit, counted in Redis so that every gateway replica counts
 * against the same numbers (fixed windows; the counts of one event-loop turn go to Redis in one
 * script call, see {@link BatchedCounter}).
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

    await app.register(rateLimit, {
      global: false,
      store: batchedStore(new BatchedCounter(app.redis, opts.keyPrefix)),
      timeWindow: opts.windowMs,
      enableDraftSpec: true,
      // Errors reach the wrapper below, which applies the per-bucket policy.
      skipOnError: false,
      errorResponseBuilder: (_request, context) => errors.GATEWAY_ERR_RATE_LIMITED(`too many requests; retry in ${context.after}`),
    });

    const limiter = (bucket: Bucket, max: number, key: (request: FastifyRequest) => string, failClosed: boolean): Limiter => {
      const counted = rejections.labels(bucket);
      const lapsed = unavailable.labels(bucket);
      const check = app.rateLimit({
        max,
        keyGenerator: key,
        onExceeded: () => counted.inc(),
      }) as Limiter;
      const onStoreError = (request: FastifyRequest) => (err: unknown) => {
        if (err instanceof AppError) throw err;
        lapsed.inc();
        request.log.warn(
          { err, bucket },
          failClosed ? 'rate limiter unreachable: refusing' : 'rate limiter unreachable: letting the request through',
        );
        if (failClosed) throw errors.GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE(undefined, { 'retry-after': UNAVAILABLE_RETRY_AFTER });
      };
      return (request, reply) => check(request, reply).catch(onStoreError(request));
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
