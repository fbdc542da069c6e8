import '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Config } from '../config.js';
import { Upstream, type BreakerSettings, type UpstreamName, type UpstreamOptions } from '../domain/upstream.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The services behind the gateway, each with its pool and breaker. */
    upstreams: Record<UpstreamName, Upstream>;
  }
}

export interface UpstreamsPluginOptions {
  readonly upstreams: readonly Omit<UpstreamOptions, 'observe'>[];
  /** Bound on each upstream's readiness probe. @default 900 */
  readonly readinessTimeoutMs?: number;
}

/** The three services as configured: each its origin and timeout, with one pool size and one breaker setting for all. */
export function upstreamOptionsFrom(config: Config): UpstreamsPluginOptions {
  const breaker: BreakerSettings = {
    errorThresholdPercentage: config.BREAKER_ERROR_THRESHOLD_PERCENTAGE,
    volumeThreshold: config.BREAKER_VOLUME_THRESHOLD,
    resetTimeoutMs: config.BREAKER_RESET_TIMEOUT_MS,
    rollingWindowMs: config.BREAKER_ROLLING_WINDOW_MS,
  };
  const upstream = (name: UpstreamName, origin: string, timeoutMs: number) => ({
    name,
    origin,
    timeoutMs,
    connections: config.UPSTREAM_CONNECTIONS,
    pipelining: config.UPSTREAM_PIPELINING,
    responseLimitBytes: config.UPSTREAM_RESPONSE_LIMIT_BYTES,
    breaker,
  });
  return {
    upstreams: [
      upstream('auth', config.AUTH_URL, config.AUTH_TIMEOUT_MS),
      upstream('task', config.TASK_URL, config.TASK_TIMEOUT_MS),
      upstream('analytics', config.ANALYTICS_URL, config.ANALYTICS_TIMEOUT_MS),
    ],
  };
}

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/**
 * One {@link Upstream} per service, their latency histogram and breaker-state gauge, and a
 * reported (not required) readiness check per upstream (its own `/health/ready`, outside the breaker).
 */
export const upstreamsPlugin = fp<UpstreamsPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const duration = new Histogram({
      name: 'gateway_upstream_duration_seconds',
      help: 'Time from sending a request upstream to the end of its answer, by upstream and status code',
      labelNames: ['upstream', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [app.metrics],
    });
    const breakerState = new Gauge({
      name: 'gateway_circuit_breaker_state',
      help: 'Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open',
      labelNames: ['upstream'] as const,
      registers: [app.metrics],
    });

    const retries = new Counter({
      name: 'gateway_upstream_retries_total',
      help: 'Idempotent requests sent a second time because their connection was closed or reset under them, by upstream',
      labelNames: ['upstream'] as const,
      registers: [app.metrics],
    });

    const upstreams = {} as Record<UpstreamName, Upstream>;
    for (const settings of opts.upstreams) {
      const { name } = settings;
      // One child per status code, so the hot path does no label hashing.
      const children = new Map<number, Histogram.Internal<'upstream' | 'status_code'>>();
      const observe = (statusCode: number, seconds: number) => {
        let child = children.get(statusCode);
        if (child === undefined) {
          child = duration.labels(name, String(statusCode));
          children.set(statusCode, child);
        }
        child.observe(seconds);
      };
      const retried = retries.labels(name);
      const upstream = new Upstream({ ...settings, observe, onRetry: () => retried.inc() });
      const report = () => breakerState.set({ upstream: name }, STATE_VALUE[upstream.state]);
      report();
      upstream.breaker.on('open', () => {
        report();
        app.log.warn({ upstream: name }, 'circuit breaker opened');
      });
      upstream.breaker.on('halfOpen', () => {
        report();
        app.log.info({ upstream: name }, 'circuit breaker half-open: letting one trial call through');
      });
      upstream.breaker.on('close', () => {
        report();
        app.log.info({ upstream: name }, 'circuit breaker closed');
      });
      // Reported, not required: the gateway's readiness says whether it can take traffic, and
      // the breakers answer for an upstream that cannot. Requiring them would take every gateway
      // out of its Service when one upstream is down, refusing even the routes that still work.
      app.readiness.add(
        name,
        async () => {
          const res = await upstream.get('/health/ready', opts.readinessTimeoutMs ?? 900);
          if (res.statusCode !== 200) throw new Error(`${name} answered ${res.statusCode}`);
        },
        { required: false },
      );
      upstreams[name] = upstream;
    }
    app.decorate('upstreams', upstreams);
    app.addHook('onClose', async () => {
      await Promise.all(Object.values(upstreams).map((u) => u.close()));
    });
  },
  { name: 'gateway-upstreams', dependencies: ['@taskmesh/metrics', '@taskmesh/health'] },
);
