/**
 * `npm run bench:analytics`: events/s processed and produce → statistics-updated latency, at
 * 200 events/s and at the highest rate the consumer sustains, against the local Kafka and
 * MongoDB-compatible server. Bounded to about two minutes.
 *
 * Phases, each on fresh events:
 *   1. 200 events/s for 10 s, then up to 30 s to catch up.
 *   2. Capacity: a backlog of 1,500 events produced at once; events/s while it drains.
 *   3. 90% of that capacity for 10 s (70% if 90% did not keep up and time allows).
 * Latency is measured in this process: from the moment an event's batch is handed to the
 * producer to the moment its effect is stored (both writes done), before the offset commit.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestIssuer } from '@taskmesh/access-token/testing';
import type { DomainEvent } from '@taskmesh/events';
import { loadConfig } from '@taskmesh/fastify-plugins';
import { EventProducer, createKafka } from '@taskmesh/kafka';
import { MongoClient } from 'mongodb';
import { buildApp } from '../src/app.js';
import { ConfigSchema } from '../src/config.js';
import { statsTopics } from '../src/events/index.js';
import { mixedWorkload } from '../test/workload.js';

const USERS = 200;
const STEADY_SECONDS = 10;
const CATCH_UP_MS = 30_000;
const BACKLOG = 1500;
const BACKLOG_LIMIT_MS = 40_000;
const TOTAL_BUDGET_MS = 115_000;

const startedAt = Date.now();
const id = randomUUID().slice(0, 8);
const issuer = await createTestIssuer();
const config = loadConfig(ConfigSchema, {
  ...process.env,
  MONGODB_DB: `analytics_bench_${id}`,
  USER_EVENTS_TOPIC: `bench-${id}.user-events`,
  TASK_EVENTS_TOPIC: `bench-${id}.task-events`,
  KAFKA_GROUP_ID: `analytics-bench-${id}`,
  JWKS_URL: issuer.jwksUrl,
  LOG_LEVEL: 'error',
});
const topics = statsTopics(config.KAFKA_GROUP_ID, config.USER_EVENTS_TOPIC, config.TASK_EVENTS_TOPIC);

/** When each event in flight was handed to the producer, and in which phase. */
const producedAt = new Map<string, { t: number; phase: number }>();
const latencies: number[] = [];
let phase = 0;
let processed = 0;
const app = await buildApp(config, {
  logLevel: 'error',
  hooks: {
    afterApply: (event) => {
      const sent = producedAt.get(event.id);
      if (sent === undefined) return;
      producedAt.delete(event.id);
      // A straggler of an earlier phase that did not keep up is not this phase's figure.
      if (sent.phase !== phase) return;
      latencies.push(performance.now() - sent.t);
      processed++;
    },
  },
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(','), clientId: 'analytics-bench' });
const producer = new EventProducer(kafka);
await producer.connect();

// One stream of realistic events, consumed phase after phase so that each user's order holds.
const stream = mixedWorkload({ users: USERS, events: 20_000, seed: 3 }).events;
let cursor = 0;
const take = (n: number): DomainEvent[] => {
  const out = stream.slice(cursor, cursor + n);
  cursor += out.length;
  return out;
};

async function produce(events: DomainEvent[]): Promise<void> {
  const now = performance.now();
  for (const e of events) producedAt.set(e.id, { t: now, phase });
  const users = events.filter((e) => e.type === 'UserRegistered');
  const tasks = events.filter((e) => e.type !== 'UserRegistered');
  await Promise.all([
    producer.send(
      config.USER_EVENTS_TOPIC,
      users.map((e) => ({ key: e.key, value: e })),
    ),
    producer.send(
      config.TASK_EVENTS_TOPIC,
      tasks.map((e) => ({ key: e.key, value: e })),
    ),
  ]);
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Starts a phase once the previous one's backlog is gone (bounded), so phases do not overlap. */
async function nextPhase(limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (producedAt.size > 0 && performance.now() < deadline) await sleep(50);
  phase++;
  processed = 0;
  latencies.length = 0;
}

async function waitUntilProcessed(target: number, limitMs: number): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (processed < target && performance.now() < deadline) await sleep(20);
  return processed >= target;
}

interface PhaseResult {
  rate: number;
  produced: number;
  producedPerSecond: number;
  processedPerSecond: number;
  keptUp: boolean;
  p50: number;
  p99: number;
}

/** Produces at `rate` for the steady duration, pacing by elapsed time so that slow sends catch up. */
async function steady(rate: number, catchUpMs: number): Promise<PhaseResult> {
  await nextPhase(15_000);
  const t0 = performance.now();
  const durationMs = STEADY_SECONDS * 1000;
  let sent = 0;
  while (performance.now() - t0 < durationMs) {
    const due = Math.floor((rate * (performance.now() - t0)) / 1000) - sent;
    if (due > 0) {
      await produce(take(due));
      sent += due;
    }
    await sleep(20);
  }
  const producedFor = (performance.now() - t0) / 1000;
  const keptUp = await waitUntilProcessed(sent, catchUpMs);
  const elapsed = (performance.now() - t0) / 1000;
  return {
    rate,
    produced: sent,
    producedPerSecond: sent / producedFor,
    processedPerSecond: processed / elapsed,
    keptUp: keptUp && latencies.length > 0 && percentile(latencies, 99) < 2000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

const fmt = (r: PhaseResult) =>
  `rate ${r.rate}/s for ${STEADY_SECONDS} s: produced ${r.produced} (${r.producedPerSecond.toFixed(1)}/s), ` +
  `processed ${r.processedPerSecond.toFixed(1)} events/s, produce→stats p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms` +
  `${r.keptUp ? '' : ' (did not keep up: backlog grew or p99 ≥ 2 s)'}`;

try {
  const cpus = os.cpus().length;
  console.log(
    `analytics benchmark: Kafka ${config.KAFKA_BROKERS}, store ${config.MONGODB_URI}, ${USERS} users, ` +
      `${config.KAFKA_TOPIC_PARTITIONS} partitions per topic, ${cpus} CPUs, load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  // Warm-up: the group has joined and every user document exists once the first events are through.
  await produce(take(USERS));
  await waitUntilProcessed(USERS, 30_000);

  const at200 = await steady(200, CATCH_UP_MS);
  console.log(fmt(at200));

  await nextPhase(15_000);
  const t0 = performance.now();
  await produce(take(BACKLOG));
  await waitUntilProcessed(BACKLOG, BACKLOG_LIMIT_MS);
  const capacity = processed / ((performance.now() - t0) / 1000);
  console.log(`capacity: a backlog of ${BACKLOG} events, ${processed} processed at ${capacity.toFixed(1)} events/s`);

  let best: PhaseResult | undefined;
  for (const share of [0.9, 0.7]) {
    const remaining = TOTAL_BUDGET_MS - (Date.now() - startedAt);
    if (remaining < STEADY_SECONDS * 1000 + 5000) break;
    const result = await steady(Math.max(1, Math.floor(capacity * share)), Math.min(10_000, remaining - STEADY_SECONDS * 1000));
    console.log(fmt(result));
    if (result.keptUp) {
      best = result;
      break;
    }
  }
  console.log(
    best
      ? `highest sustained rate measured: ${best.rate} events/s (p50 ${best.p50.toFixed(0)} ms, p99 ${best.p99.toFixed(0)} ms)`
      : 'no steady rate tried here was sustained; see the capacity line',
  );
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
  );
} finally {
  await app.close();
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin
    .deleteTopics({ topics: [topics.userEvents, topics.taskEvents, topics.retry, topics.deadLetters], timeout: 10_000 })
    .catch(() => undefined);
  await admin.disconnect();
  const mongo = new MongoClient(config.MONGODB_URI);
  await mongo.connect();
  await mongo.db(config.MONGODB_DB).dropDatabase();
  await mongo.close();
  await issuer.close();
}
