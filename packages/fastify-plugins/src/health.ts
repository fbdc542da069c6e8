import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';

/** A readiness check: resolves when the dependency answers, throws (or times out) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface Readiness {
  /** Registers a dependency that must answer for the instance to be ready. */
  add(name: string, check: ReadinessCheck): void;
  /** Marks the instance as draining: readiness answers 503 so that traffic moves elsewhere. */
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
 * in parallel, each bounded in time, and answers 503 with the failing ones named.
 */
export const healthPlugin = fp<HealthOptions>(
  async (app: FastifyInstance, opts) => {
    const timeoutMs = opts.checkTimeoutMs ?? 1000;
    const checks = new Map<string, ReadinessCheck>();
    let draining = false;
    app.decorate('readiness', {
      add: (name: string, check: ReadinessCheck) => void checks.set(name, check),
      drain: () => void (draining = true),
      get draining() {
        return draining;
      },
    });

    /** Keeps probe routes out of the OpenAPI document. */
    const hide = { hide: true } as FastifySchema;
    app.get('/health/live', { schema: hide, logLevel: 'warn' }, async () => ({ status: 'ok' }));
    app.get('/health/ready', { schema: hide, logLevel: 'warn' }, async (_request, reply) => {
      const results: Record<string, { ok: boolean; ms: number; error?: string }> = {};
      await Promise.all(
        [...checks].map(async ([name, check]) => {
          const t0 = performance.now();
          try {
            await withTimeout(check(), timeoutMs);
            results[name] = { ok: true, ms: Math.round(performance.now() - t0) };
          } catch (err) {
            results[name] = { ok: false, ms: Math.round(performance.now() - t0), error: (err as Error).message };
          }
        }),
      );
      const ok = !draining && Object.values(results).every((r) => r.ok);
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : draining ? 'draining' : 'not ready', checks: results });
    });
  },
  { name: '@taskmesh/health' },
);
