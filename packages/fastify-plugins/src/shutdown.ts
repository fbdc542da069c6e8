import type { FastifyInstance } from 'fastify';

/**
 * Work that must finish before the process exits, such as the tracing preload's flush of buffered
 * spans: functions in an array under this global symbol, run after the app has closed. A global
 * rather than an import, because the preload must not load Fastify before it instruments it.
 */
export const BEFORE_EXIT = Symbol.for('taskmesh.beforeExit');

async function runBeforeExit(): Promise<void> {
  const hooks = (globalThis as Record<symbol, unknown>)[BEFORE_EXIT];
  if (Array.isArray(hooks)) await Promise.allSettled(hooks.map((hook: () => Promise<void>) => hook()));
}

export interface ShutdownOptions {
  /** Time for in-flight requests and consumers to finish before the process exits anyway. @default 10000 */
  readonly timeoutMs?: number;
  /** Time between failing readiness and closing, so that load balancers stop sending. @default 0 */
  readonly drainDelayMs?: number;
}

/**
 * On SIGTERM or SIGINT: readiness turns 503, the server stops accepting, in-flight requests
 * finish and every plugin closes its client (`onClose`); the process exits 0, or 1 if that
 * takes longer than `timeoutMs`.
 */
export function installGracefulShutdown(app: FastifyInstance, opts: ShutdownOptions = {}): void {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    app.readiness?.drain();
    const timer = setTimeout(() => {
      app.log.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    setTimeout(() => {
      app
        .close()
        .then(runBeforeExit)
        .then(
          () => {
            app.log.info('shut down cleanly');
            process.exit(0);
          },
          (err: unknown) => {
            app.log.error({ err }, 'error while shutting down');
            process.exit(1);
          },
        );
    }, opts.drainDelayMs ?? 0).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
