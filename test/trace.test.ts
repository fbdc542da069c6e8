import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startTestTelemetry, type ReadableSpan } from '../packages/telemetry/src/testing.js';

/**
 * The statistics write under the consumer's span: one conditional update per user and micro-batch
 * (findAndModify, which the MongoDB instrumentation names after `$cmd`), or per event (update).
 */
const USER_STATS_WRITE = /^(?:findAndModify \$cmd|update user_stats)$/;

// Tracing starts before the apps and their libraries are imported, as the preload does in a
// service; the stack module imports the gateway, task and analytics apps.
const telemetry = await startTestTelemetry();
const { startPlatformStack } = await import('./trace-stack.js');

const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

/** The chain from a span up to the root of what was collected, nearest first. */
function ancestors(spans: ReadableSpan[], span: ReadableSpan): ReadableSpan[] {
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const out: ReadableSpan[] = [];
  for (let p = byId.get(parentOf(span) ?? ''); p; p = byId.get(parentOf(p) ?? '')) out.push(p);
  return out;
}

describe('one trace from the gateway through task and Kafka into analytics', () => {
  let stack: Awaited<ReturnType<typeof startPlatformStack>>;

  beforeAll(async () => {
    stack = await startPlatformStack(inject('infra'));
  });

  afterAll(async () => {
    await stack?.close();
  });

  beforeEach(() => telemetry.reset());

  const createTask = async (userId: string, headers: Record<string, string> = {}) =>
    fetch(`${stack.gatewayUrl}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await stack.issuer.token(userId)}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ title: 'follow me' }),
    });

  /** Waits for the analytics side of the user's event: its process span and the statistics write under it. */
  async function consumedFor(userId: string) {
    const processed = await telemetry.waitForSpan(
      (s) => s.name === `process ${stack.taskTopic}` && s.attributes['messaging.kafka.message.key'] === userId,
      30_000,
    );
    await telemetry.waitForSpan((s) => USER_STATS_WRITE.test(s.name) && parentOf(s) === idOf(processed), 10_000);
    return processed;
  }

  it('when a client creates a task through the gateway, then the gateway, task, the Kafka publish and the analytics consumer form one trace', async () => {
    const userId = stack.newUserId();
    const res = await createTask(userId);
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string };

    const processed = await consumedFor(userId);
    const traceId = processed.spanContext().traceId;
    const spans = telemetry.trace(traceId);
    const requestOf = (service: string) =>
      spans.find((s) => s.attributes['taskmesh.service'] === service && s.attributes['http.route'] === '/tasks');

    // The gateway's request starts the trace: the client sent no trace context.
    const gatewayServer = spans.find((s) => s.kind === SpanKind.SERVER && parentOf(s) === undefined);
    expect(gatewayServer?.attributes['url.path']).toBe('/tasks');
    const gatewayRequest = requestOf('gateway');
    expect(gatewayRequest, 'the gateway request span').toBeDefined();
    expect(parentOf(gatewayRequest!)).toBe(idOf(gatewayServer!));

    // Its call to task is the parent of task's request.
    const taskServer = spans.find((s) => s.kind === SpanKind.SERVER && s.attributes['url.path'] === '/tasks' && s !== gatewayServer);
    const upstreamCall = spans.find((s) => idOf(s) === parentOf(taskServer!));
    expect(upstreamCall?.kind, 'task was called by a client span').toBe(SpanKind.CLIENT);
    expect(ancestors(spans, upstreamCall!)).toContain(gatewayRequest);
    const taskRequest = requestOf('task');
    expect(taskRequest?.attributes['http.response.status_code']).toBe(201);
    expect(parentOf(taskRequest!)).toBe(idOf(taskServer!));
    const insert = spans.find((s) => s.name === 'insert tasks');
    expect(ancestors(spans, insert!)).toContain(taskRequest);

    // The outbox relay published later, outside the request, yet in the request's trace.
    const sends = spans.filter((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.kafka.message.key'] === userId);
    expect(sends.map((s) => s.name)).toEqual([`send ${stack.taskTopic}`]);
    expect(ancestors(spans, sends[0]!)).toContain(taskRequest);

    // Analytics handled the message under the publish, and its database writes under that.
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(processed)).toBe(idOf(sends[0]!));
    expect(processed.attributes['messaging.consumer.group.name']).toBe(stack.analyticsGroup);
    expect(spans.filter((s) => parentOf(s) === idOf(processed)).some((s) => USER_STATS_WRITE.test(s.name))).toBe(true);

    // One connected trace: every span hangs from the gateway's, none from a span of another trace.
    const ids = new Set(spans.map(idOf));
    expect(spans.filter((s) => s !== gatewayServer && !ids.has(parentOf(s) ?? '')).map((s) => s.name)).toEqual([]);
    expect(new Set(spans.map((s) => s.attributes['taskmesh.service']).filter(Boolean))).toEqual(new Set(['gateway', 'task']));

    // What travelled was the user's TaskCreated, applied once.
    const stats = await fetch(`${stack.gatewayUrl}/analytics/me`, {
      headers: { authorization: `Bearer ${await stack.issuer.token(userId)}` },
    });
    expect(await stats.json()).toMatchObject({ userId, tasksCreated: 1, tasksOpen: 1 });
    expect(created.id).toMatch(/^[0-9a-f]{24}$/);
  });

  it("when the client sends its own trace context, then the whole flow continues the client's trace", async () => {
    const userId = stack.newUserId();
    const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const clientSpan = 'c1'.repeat(8);
    expect((await createTask(userId, { traceparent: `00-${traceId}-${clientSpan}-01` })).status).toBe(201);

    const processed = await consumedFor(userId);
    expect(processed.spanContext().traceId).toBe(traceId);
    const spans = telemetry.trace(traceId);
    const roots = spans.filter((s) => !spans.some((p) => idOf(p) === parentOf(s)));
    expect(roots.map((s) => [s.kind, parentOf(s)])).toEqual([[SpanKind.SERVER, clientSpan]]);
    expect(spans.some((s) => s.attributes['taskmesh.service'] === 'task')).toBe(true);
  });
});
