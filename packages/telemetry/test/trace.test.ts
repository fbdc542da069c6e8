import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestTelemetry, type ReadableSpan, type TestTelemetry } from '../src/testing.js';

// Tracing starts before the libraries load, as the preload does for a service: everything the
// test exercises is imported afterwards.
const telemetry: TestTelemetry = await startTestTelemetry();
const { createServiceApp, traceLogFields } = await import('@taskmesh/service-kit');
const { mongoPlugin } = await import('@taskmesh/mongo');
const { EventProducer, createKafka, ensureTopics, startConsumer, traceHeaders } = await import('@taskmesh/kafka');

type App = Awaited<ReturnType<typeof createServiceApp>>;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const byId = (spans: ReadableSpan[], id: string | undefined) => spans.find((s) => s.spanContext().spanId === id);

describe('traces across HTTP, MongoDB and Kafka in one process', () => {
  const topic = `test.telemetry.${randomUUID().slice(0, 8)}`;
  const groupId = `telemetry-${randomUUID().slice(0, 8)}`;
  const dbName = `telemetry_${randomUUID().slice(0, 8)}`;
  const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'telemetry-test' });
  const producer = new EventProducer(kafka);
  const handled: { id: string; logFields: ReturnType<typeof traceLogFields> }[] = [];
  let front: App;
  let back: App;
  let consumer: Awaited<ReturnType<typeof startConsumer>>;
  let base: string;

  beforeAll(async () => {
    await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
    front = await createServiceApp({ service: 'front', logLevel: false });
    await front.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName });
    front.post('/things/:id', async (request) => {
      const { id } = request.params as { id: string };
      await front.mongo.db.collection('things').insertOne({ _id: id as never });
      await producer.send(topic, [{ key: id, value: { id } }]);
      return { id, ...traceLogFields() };
    });
    // An app that sets its own traceparent on an outgoing call, as the gateway does.
    front.get('/echo-trace', async (request) => ({ traceparent: request.headers.traceparent ?? null }));
    front.get('/call-with-own-traceparent', async () => {
      const res = await fetch(`${base}/echo-trace`, { headers: { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` } });
      return { ...((await res.json()) as object), ...traceLogFields() };
    });
    await front.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(front.server.address() as { port: number }).port}`;

    back = await createServiceApp({ service: 'back', logLevel: false });
    await back.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName });
    await back.ready();
    consumer = await startConsumer(kafka, {
      groupId,
      topics: [topic],
      handle: async (m) => {
        const { id } = JSON.parse(m.value!.toString()) as { id: string };
        await back.mongo.db.collection('seen').insertOne({ _id: id as never });
        handled.push({ id, logFields: traceLogFields() });
      },
    });
  });

  afterAll(async () => {
    await consumer?.stop();
    await producer.disconnect();
    await front?.mongo.db.dropDatabase();
    await front?.close();
    await back?.close();
  });

  it('when a request publishes an event, then the consumer handles it in the same trace, under the publish span', async () => {
    const id = randomUUID();
    const res = await fetch(`${base}/things/${id}`, { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { traceId: string; spanId: string };
    expect(body.traceId).toMatch(/^[0-9a-f]{32}$/);

    const processSpan = await telemetry.waitForSpan(
      (s) => s.name === `process ${topic}` && s.attributes['messaging.kafka.message.key'] === id,
    );
    await telemetry.waitForSpan((s) => s.name.startsWith('insert ') && s.parentSpanContext?.spanId === processSpan.spanContext().spanId);
    const spans = telemetry.trace(body.traceId);

    const server = spans.find((s) => s.kind === SpanKind.SERVER);
    expect(server?.attributes['http.route'] ?? server?.attributes['http.target']).toBeDefined();
    const request = spans.find((s) => s.attributes['taskmesh.service'] === 'front');
    expect(request, 'the Fastify request span names its service').toBeDefined();

    const send = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === `send ${topic}`);
    expect(send).toBeDefined();
    expect(processSpan.spanContext().traceId).toBe(body.traceId);
    expect(parentOf(processSpan)).toBe(send!.spanContext().spanId);
    expect(processSpan.kind).toBe(SpanKind.CONSUMER);
    expect(processSpan.attributes['messaging.consumer.group.name']).toBe(groupId);

    // The database calls on both sides belong to the same trace.
    const inserts = spans.filter((s) => s.name.startsWith('insert '));
    expect(inserts.map((s) => byId(spans, parentOf(s))?.kind)).toEqual(expect.arrayContaining([SpanKind.CONSUMER]));
    expect(inserts).toHaveLength(2);

    // The handler ran inside the process span: its log lines carry the trace.
    const seen = handled.find((h) => h.id === id);
    expect(seen?.logFields).toEqual({ traceId: body.traceId, spanId: processSpan.spanContext().spanId });
  });

  it('when messages are consumed in batches, then kafkajs starts no separate batch traces', async () => {
    const spans = telemetry.spans();
    expect(spans.some((s) => s.name === `process ${topic}`)).toBe(true);
    expect(spans.filter((s) => s.name.startsWith('poll '))).toEqual([]);
  });

  it("when an outbox entry saved its request's trace headers, then the later publish joins that trace", async () => {
    const id = randomUUID();
    // At write time, inside the request's trace.
    const res = await fetch(`${base}/things/${randomUUID()}`, { method: 'POST' });
    const { traceId } = (await res.json()) as { traceId: string };
    const saved = { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` };
    // The relay publishes later, outside any request; a message without saved headers starts its own trace.
    const other = randomUUID();
    await producer.send(topic, [
      { key: id, value: { id }, headers: saved },
      { key: other, value: { id: other } },
    ]);
    const joined = await telemetry.waitForSpan((s) => s.name === `process ${topic}` && s.attributes['messaging.kafka.message.key'] === id);
    const alone = await telemetry.waitForSpan(
      (s) => s.name === `process ${topic}` && s.attributes['messaging.kafka.message.key'] === other,
    );
    expect(joined.spanContext().traceId).toBe(traceId);
    expect(alone.spanContext().traceId).not.toBe(traceId);
    expect(traceHeaders()).toEqual({});
  });

  it("when an app sets its own traceparent on an outgoing call inside a trace, then the call carries only its client span's", async () => {
    const res = await fetch(`${base}/call-with-own-traceparent`);
    const body = (await res.json()) as { traceparent: string; traceId: string };
    const [, traceId, parentId] = body.traceparent.split('-');
    expect(traceId).toBe(body.traceId);
    const client = telemetry.trace(body.traceId).find((s) => s.spanContext().spanId === parentId);
    expect(client?.kind).toBe(SpanKind.CLIENT);
  });

  it('when probes and scrapes arrive, then they make no spans', async () => {
    telemetry.reset();
    for (const path of ['/health/live', '/metrics']) expect((await fetch(`${base}${path}`)).status).toBe(200);
    const id = randomUUID();
    await fetch(`${base}/things/${id}`, { method: 'POST' });
    await telemetry.waitForSpan((s) => s.attributes['messaging.kafka.message.key'] === id && s.kind === SpanKind.PRODUCER);
    const paths = telemetry.spans().map((s) => String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? ''));
    expect(paths.filter((p) => p.startsWith('/health') || p.startsWith('/metrics'))).toEqual([]);
  });
});
