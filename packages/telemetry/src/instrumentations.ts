import type { IncomingMessage } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { isSpanContextValid } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/** Set by `createServiceApp` (`SERVICE_NAME` in @taskmesh/service-kit). */
const SERVICE_NAME = Symbol.for('taskmesh.service');

/** Probes and scrapes arrive every few seconds; a trace for each would bury the real ones. */
const UNTRACED_PATH = /^\/(health\/(live|ready)|metrics)(\?|$)/;

export function isUntracedPath(url: string | undefined): boolean {
  return url !== undefined && UNTRACED_PATH.test(url);
}

/** W3C trace-context headers, which describe the span that sends a request. */
const TRACE_CONTEXT_HEADERS = new Set(['traceparent', 'tracestate']);

/**
 * Removes trace-context headers the application set on an undici request itself (the gateway
 * passes its caller's `traceparent` on, so that requests correlate even without tracing). The
 * instrumentation appends its own rather than replacing them, and two `traceparent` headers
 * reach the server joined by a comma, which no propagator parses: the server would start a new
 * trace. Only done when the client span's context is about to be added instead.
 */
export function dropTraceContext(request: { headers: string | (string | string[])[] }): void {
  if (Array.isArray(request.headers)) {
    const kept: (string | string[])[] = [];
    for (let i = 0; i + 1 < request.headers.length; i += 2) {
      const name = request.headers[i]!;
      if (typeof name === 'string' && TRACE_CONTEXT_HEADERS.has(name.toLowerCase())) continue;
      kept.push(name, request.headers[i + 1]!);
    }
    if (kept.length !== request.headers.length) request.headers.splice(0, request.headers.length, ...kept);
  } else if (typeof request.headers === 'string') {
    // undici 5 keeps headers as `name: value\r\n` lines.
    request.headers = request.headers
      .split('\r\n')
      .filter((line) => !TRACE_CONTEXT_HEADERS.has(line.slice(0, line.indexOf(':')).trim().toLowerCase()))
      .join('\r\n');
  }
}

/**
 * kafkajs' own instrumentation, publish side only. Its consumer side starts a new trace for every
 * fetched batch and only links each message to its producer; `@taskmesh/kafka` instead processes
 * each message in a span whose parent is the producer's, so that one trace runs from the HTTP
 * request through Kafka into the consumer's own database calls.
 */
class KafkaJsPublishInstrumentation extends KafkaJsInstrumentation {
  constructor() {
    super();
    // The batch wrapper is a private member of the pinned version; replacing it on the instance
    // keeps the send spans, the context injection and kafkajs' client metrics.
    (this as unknown as { _getConsumerEachBatchPatch: () => <T>(original: T) => T })._getConsumerEachBatchPatch = () => (original) =>
      original;
  }
}

/** The instrumentations that carry a trace from process to process: HTTP in and out, Kafka headers. */
const PROPAGATING = new Set(['http', 'undici', 'kafkajs']);

export interface InstrumentationChoice {
  /**
   * Whether spans leave the process. When they do not, only the {@link PROPAGATING} ones are
   * loaded: they keep the trace id in the logs and pass it on, while Fastify's hook spans and the
   * database spans could only be dropped (each costs CPU on every request and command).
   * @default true
   */
  readonly exporting?: boolean;
}

/**
 * The libraries the platform uses: HTTP in and out (node:http, undici for fetch), Fastify's
 * routes and hooks, MongoDB, ioredis and kafkajs. Database spans are made only inside a trace, so a
 * background poll does not start traces of its own.
 */
export function platformInstrumentations(env: NodeJS.ProcessEnv = process.env, choice: InstrumentationChoice = {}): Instrumentation[] {
  // The variable OpenTelemetry's Node auto-instrumentation reads: names to leave out, e.g. "fastify,mongodb".
  const disabled = new Set((env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ?? '').split(',').map((n) => n.trim()));
  const exporting = choice.exporting ?? true;
  return allInstrumentations()
    .filter(([name]) => !disabled.has(name) && (exporting || PROPAGATING.has(name)))
    .map(([, make]) => make());
}

function allInstrumentations(): [string, () => Instrumentation][] {
  return [
    ['http', () => new HttpInstrumentation({ ignoreIncomingRequestHook: (req: IncomingMessage) => isUntracedPath(req.url) })],
    [
      'undici',
      () =>
        new UndiciInstrumentation({
          requireParentforSpans: true,
          // Runs just before the instrumentation adds the client span's context to the request.
          requestHook: (span, request) => {
            if (isSpanContextValid(span.spanContext())) dropTraceContext(request);
          },
        }),
    ],
    [
      'fastify',
      () =>
        new FastifyOtelInstrumentation({
          registerOnInitialization: true,
          ignorePaths: (route) => isUntracedPath(route.url),
          // Names the service on its request span, which tells services apart when several run in
          // one process (tests); in a deployment the resource's service.name does the same.
          requestHook: (span, request) => {
            const service = (request.server as unknown as Record<symbol, unknown>)[SERVICE_NAME];
            if (typeof service === 'string') span.setAttribute('taskmesh.service', service);
          },
        }) as unknown as Instrumentation,
    ],
    ['mongodb', () => new MongoDBInstrumentation({ requireParentSpan: true })],
    ['ioredis', () => new IORedisInstrumentation({ requireParentSpan: true })],
    ['kafkajs', () => new KafkaJsPublishInstrumentation()],
  ];
}
