import type { IncomingMessage } from 'node:http';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/** Set by `createServiceApp` (`SERVICE_NAME` in @taskmesh/fastify-plugins). */
const SERVICE_NAME = Symbol.for('taskmesh.service');

/** Probes and scrapes arrive every few seconds; a trace for each would bury the real ones. */
const UNTRACED_PATH = /^\/(health\/(live|ready)|metrics)(\?|$)/;

export function isUntracedPath(url: string | undefined): boolean {
  return url !== undefined && UNTRACED_PATH.test(url);
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

/**
 * The libraries the platform uses: HTTP in and out (node:http, undici for fetch), Fastify's
 * routes and hooks, MongoDB, ioredis and kafkajs. Database spans are made only inside a trace, so a
 * background poll does not start traces of its own.
 */
export function platformInstrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req: IncomingMessage) => isUntracedPath(req.url),
    }),
    new UndiciInstrumentation({ requireParentforSpans: true }),
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
    new MongoDBInstrumentation({ requireParentSpan: true }),
    new IORedisInstrumentation({ requireParentSpan: true }),
    new KafkaJsPublishInstrumentation(),
  ];
}
