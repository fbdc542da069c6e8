import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { errorHandlerPlugin } from './error-handler.js';
import type { ErrorFactory } from './errors.js';
import { healthPlugin } from './health.js';
import { installJsonParser } from './json-parser.js';
import { metricsPlugin } from './metrics.js';
import { SERVICE_NAME, traceLogFields } from './trace-context.js';
import { REQUEST_ID_HEADER, genRequestId } from './request-id.js';
import { installStrictValidation } from './validation.js';

export interface ServiceAppOptions {
  /** The service name: on every log line and metric. */
  readonly service: string;
  /** pino level, or `false` for no logs (tests). @default 'info' */
  readonly logLevel?: string | false;
  /** Largest accepted body in bytes. @default 65536 */
  readonly bodyLimit?: number;
  /** Extra fields for every log line; the active trace and span ids are always added. */
  readonly logMixin?: () => Record<string, unknown>;
  /** Behind the gateway or an ingress: honour X-Forwarded-* from these peers. @default false */
  readonly trustProxy?: FastifyServerOptions['trustProxy'];
  /** Bound for each readiness check. @default 1000 */
  readonly readinessTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long; keep it below the drain window. @default 4000 */
  readonly keepAliveTimeoutMs?: number;
  /** The service's answer when its store is unreachable (503, with Retry-After). @default ERR_UNAVAILABLE */
  readonly unavailableError?: ErrorFactory;
}

/**
 * One log line per request, when it completes, with the request's method and URL in it: Fastify's
 * separate "incoming request" line cost about a twentieth of a cheap request's CPU and says nothing
 * the completion line cannot. Every other line of Fastify's is kept.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: FastifyError | Error | null, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/**
 * A Fastify instance with what every service shares: request ids, strict validation, the one
 * error handler, health routes and metrics. Services register their own plugins and routes on it.
 */
export async function createServiceApp(opts: ServiceAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      opts.logLevel === false
        ? false
        : {
            level: opts.logLevel ?? 'info',
            base: { service: opts.service },
            mixin: opts.logMixin ? () => ({ ...traceLogFields(), ...opts.logMixin!() }) : traceLogFields,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
          },
    logController: new OneLinePerRequest(),
    genReqId: genRequestId,
    // false: Fastify would otherwise take the header verbatim and skip genRequestId's checks
    requestIdHeader: false,
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    trustProxy: opts.trustProxy ?? false,
    // Requests that still arrive on an open connection once closing has started are served (with
    // Connection: close), not refused: they were routed here before the endpoint change.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Shorter than the drain window (DRAIN_MS), and announced in Keep-Alive: timeout=4 so that
    // clients close an idle connection first: by the end of the drain no idle connection is left
    // to race a new request against the close.
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 4000,
  });
  (app as unknown as Record<symbol, string>)[SERVICE_NAME] = opts.service;
  installStrictValidation(app);
  installJsonParser(app);
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  await app.register(errorHandlerPlugin, opts.unavailableError ? { unavailableError: opts.unavailableError } : {});
  await app.register(healthPlugin, { checkTimeoutMs: opts.readinessTimeoutMs ?? 1000 });
  await app.register(metricsPlugin, { service: opts.service });
  return app;
}

export type { FastifyBaseLogger };
