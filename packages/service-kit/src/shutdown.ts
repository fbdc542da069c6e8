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
  /** Time for in-flight requests and consumers to finish, once closing starts, before the process exits anyway. @default 10000 */
  readonly timeoutMs?: number;
  /**
   * After SIGTERM, how long the instance goes on serving (readiness 503, every answer with
   * `Connection: close`) before it stops listening. It must exceed the server's keep-alive
   * timeout, so that every keep-alive connection has either carried a request (and been told to
   * close) or been closed by its client before the server closes what is left. SIGINT (Ctrl-C
   * of a developer) skips it. @default 0
   */
  readonly drainMs?: number;
  /** @deprecated the former name of `drainMs` */
  readonly drainDelayMs?: number;
}

/**
 * On SIGTERM: readiness turns 503 and every answer carries `Connection: close` for `drainMs`
 * (the load balancer stops sending new connections, keep-alive clients move theirs elsewhere),
 * then the server stops accepting, in-flight requests finish (still served, never a 503) and
 * every plugin closes its client (`onClose`); the process exits 0, or 1 if closing takes longer
 * than `timeoutMs`. On SIGINT the same without the drain window.
 */
export function installGracefulShutdown(app: FastifyInstance, opts: ShutdownOptions = {}): void {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const drainMs = opts.drainMs ?? opts.drainDelayMs ?? 0;
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    const drain = signal === 'SIGTERM' ? drainMs : 0;
    app.log.info({ signal, drainMs: drain, timeoutMs }, drain > 0 ? 'draining: serving with Connection: close, then closing' : 'shutting down');
    app.readiness?.drain();
    const timer = setTimeout(() => {
      app.log.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, drain + timeoutMs);
    timer.unref();
    setTimeout(() => {
      app.log.info('closing: no new connections; finishing the requests in flight');
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
    }, drain);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

export interface BackoffLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WaitForOptions {
  /** Give up (and throw the last error) after this long. @default 120000 */
  readonly timeoutMs?: number;
  /** First pause between attempts; doubled each time up to `maxDelayMs`. @default 500 */
  readonly initialDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
  /** pino-style: object first. */
  readonly log?: BackoffLogger;
}

/**
 * Runs `attempt` until it resolves, with a bounded, logged, doubling back-off: what a service
 * does at start while its database is not there yet (Kubernetes starts pods in any order), so
 * that it waits instead of exiting into CrashLoopBackOff's growing delays. Throws the last error
 * when `timeoutMs` runs out.
 */
export async function retryWithBackoff<T>(what: string, attempt: () => Promise<T>, opts: WaitForOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const maxDelay = opts.maxDelayMs ?? 5000;
  const started = Date.now();
  let delay = opts.initialDelayMs ?? 500;
  for (let n = 1; ; n++) {
    try {
      const result = await attempt();
      if (n > 1) opts.log?.info({ what, attempts: n, waitedMs: Date.now() - started }, `${what}: ready`);
      return result;
    } catch (err) {
      const waited = Date.now() - started;
      if (waited + delay > timeoutMs) {
        throw new Error(`${what}: still failing after ${n} attempts in ${Math.round(waited / 1000)} s: ${(err as Error).message}`, { cause: err });
      }
      opts.log?.warn({ what, attempt: n, retryInMs: delay, error: (err as Error).message }, `${what}: not yet; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}


/**
 * A logger for the start, before the app and its pino logger exist: the same JSON line shape
 * (pino levels, `service`, `msg`), on stdout.
 */
export function startupLogger(service: string): BackoffLogger {
  const line = (level: number, obj: object, msg: string) =>
    process.stdout.write(`${JSON.stringify({ level, time: Date.now(), service, ...obj, msg })}\n`);
  return { info: (obj, msg) => line(30, obj, msg), warn: (obj, msg) => line(40, obj, msg) };
}
