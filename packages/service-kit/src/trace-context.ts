import { isSpanContextValid, trace } from '@opentelemetry/api';

/**
 * Where `createServiceApp` leaves the service name on the Fastify instance, for the tracing
 * preload to tag request spans with (several services can share one process in tests).
 */
export const SERVICE_NAME = Symbol.for('taskmesh.service');

/**
 * The active trace and span ids, for every log line; nothing outside a trace or when no
 * OpenTelemetry SDK runs in the process (the API alone is a no-op).
 */
export function traceLogFields(): { traceId?: string; spanId?: string } {
  const ctx = trace.getActiveSpan()?.spanContext();
  if (!ctx || !isSpanContextValid(ctx)) return {};
  return { traceId: ctx.traceId, spanId: ctx.spanId };
}
