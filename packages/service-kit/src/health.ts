import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';

/** A readiness check: resolves when the dependency answers, throws (or times out) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface Readiness {
  /**
   * Registers a dependency check. A required one (the default) must answer for the instance to
   * be ready; a non-required one is reported in the answer (`required: false`) but never turns
   * it 503, for a dependency whose outage the instance rides out itself (the gateway's Redis
   * and upstreams, Kafka behind an outbox): readiness means "send me traffic", and taking every
   * replica out of its Service for such an outage would turn it into a full one.
   */
  add(name: string, check: ReadinessCheck, opts?: { readonly required?: boolean }): void;
  /**
   * Marks the instance as draining: readiness answers 503 and every answer carries
   * `Connection: close`, so that the load balancer sends no new connections and keep-alive
   * clients (the gateway's pools, an L4 balancer's established flows) move theirs elsewhere.
   */
  drain(): void;
  readonly draining: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness;
  }
}

export interface HealthOptions {
  /** Upper bound for each readiness check. @default 1000 */
  readonly checkTimeoutMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * `/health/live` answers while the process runs; `/health/ready` runs every registered check
 * in parallel, each bounded in time, and answers 503 when a required one fails (or while
 * draining), with every check's result in the body.
 */
export const healthPlugin = fp<HealthOptions>(
  async (app: FastifyInstance, opts) => {
    const timeoutMs = opts.checkTimeoutMs ?? 1000;
    const checks = new Map<string, { check: ReadinessCheck; required: boolean }>();
    let draining = false;
    app.decorate('readiness', {
      add: (name: string, check: ReadinessCheck, o?: { readonly required?: boolean }) =>
        void checks.set(name, { check, required: o?.required ?? true }),
      drain: () => void (draining = true),
      get draining() {
        return draining;
      },
    });

    // Keep-alive connections outlive the endpoint change that removes this instance (kube-proxy
    // keeps established flows): each one is told to close after its next answer.
    app.addHook('onRequest', (_request, reply, done) => {
      if (draining) void reply.header('connection', 'close');
      done();
    });

    /** Keeps probe routes out of the OpenAPI document. */
    const hide = { hide: true } as FastifySchema;
    app.get('/health/live', { schema: hide, logLevel: 'warn' }, async () => ({ status: 'ok' }));
    app.get('/health/ready', { schema: hide, logLevel: 'warn' }, async (_request, reply) => {
      const results: Record<string, { ok: boolean; ms: number; error?: string; required?: false }> = {};
      let failed = false;
      await Promise.all(
        [...checks].map(async ([name, { check, required }]) => {
          const t0 = performance.now();
          const extra = required ? {} : { required: false as const };
          try {
            await withTimeout(check(), timeoutMs);
            results[name] = { ok: true, ms: Math.round(performance.now() - t0), ...extra };
          } catch (err) {
            if (required) failed = true;
            results[name] = { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message, ...extra };
          }
        }),
      );
      const ok = !draining && !failed;
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : draining ? 'draining' : 'not ready', checks: results });
    });
  },
  { name: '@taskmesh/health' },
);
