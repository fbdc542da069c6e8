import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Context, type TextMapGetter } from '@opentelemetry/api';

/**
 * Only `@opentelemetry/api` is used here: without an SDK in the process (no
 * `@taskmesh/telemetry/register` preload) every call below is a no-op.
 */
const tracer = trace.getTracer('@taskmesh/kafka');

const getter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** True when a propagator is installed, i.e. trace context can travel at all. */
export function propagating(): boolean {
  return propagation.fields().length > 0;
}

/**
 * The current trace context as message headers (`traceparent`, and `tracestate` or `baggage`
 * when set). Store them with an outbox entry at write time and pass them back as the message's
 * headers when the relay publishes it: the publish then joins the trace of the request that
 * caused it instead of the relay's.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** A message's own trace context when it carries one, else the caller's. */
export function publishContext(headers: Record<string, string> | undefined): Context {
  if (headers?.traceparent && propagating()) return propagation.extract(ROOT_CONTEXT, headers, getter);
  return context.active();
}

export interface ProcessAttributes {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly groupId: string;
}

/**
 * Runs `fn` in a `process <topic>` span whose parent is the producer's context from the headers:
 * the handler's own work (database calls, further publishes) lands in the producer's trace.
 */
export async function inProcessSpan<T>(headers: Record<string, string>, m: ProcessAttributes, fn: () => Promise<T>): Promise<T> {
  const parent = propagating() ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
  const span = tracer.startSpan(
    `process ${m.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': m.topic,
        'messaging.destination.partition.id': String(m.partition),
        'messaging.consumer.group.name': m.groupId,
        'messaging.kafka.offset': Number(m.offset),
        ...(m.key !== null ? { 'messaging.kafka.message.key': m.key } : {}),
      },
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
