import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry: each app has its own, so tests can build many. */
    metrics: Registry;
  }
}

export interface MetricsOptions {
  /** Added to every series as the `service` label. */
  readonly service: string;
  /** Collect process and event-loop metrics. @default true */
  readonly defaultMetrics?: boolean;
}

/**
 * `/metrics` in the Prometheus text format, plus `http_request_duration_seconds` by route
 * template (never a raw path, so ids cannot explode the label set), method and status code.
 */
export const metricsPlugin = fp<MetricsOptions>(
  async (app: FastifyInstance, opts) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: opts.service });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    app.decorate('metrics', registry);

    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status code',
      labelNames: ['route', 'method', 'status_code'] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });

    // One child per label tuple, looked up by a flat key: prom-client would otherwise hash a label
    // object on every request. A callback hook, because an async one costs a promise per request.
    const children = new Map<string, { observe(value: number): void }>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      if (route !== '/metrics') {
        const key = `${route} ${request.method} ${reply.statusCode}`;
        let child = children.get(key);
        if (!child) {
          child = duration.labels({ route, method: request.method, status_code: String(reply.statusCode) });
          children.set(key, child);
        }
        child.observe(reply.elapsedTime / 1000);
      }
      done();
    });

    app.get('/metrics', { schema: { hide: true } as FastifySchema, logLevel: 'warn' }, async (_request, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  },
  { name: '@taskmesh/metrics' },
);
