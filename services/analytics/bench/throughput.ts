/**
 * `npm run bench:analytics`: events/s processed and produce → statistics-updated latency, at
 * 200 events/s and at the highest rate the consumer sustains, against the local Kafka and
 * MongoDB-compatible server. Bounded to about two minutes.
 *
 * Phases, on one stream of realistic events for 200 users:
 *   0. Warm-up: the users register (the group joins, every user document exists).
 *   1. Capacity: a backlog produced at once; events/s while it drains.
 *   2. 80% of that capacity for 10 s, then 2,000/s (the target) and 60% while the higher one does not
 *      keep up: the sustained rate.
 *   3. 200 events/s for 10 s, last, so that a backlog it leaves cannot disturb the others.
 * Latency is measured in this process: from the moment an event's batch is handed to the
 * producer to the moment its effect is stored (both writes done), before the offset commit.
 * The store time per event (the two conditional writes) is printed too, since it bounds the rate.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestIssuer } from '@taskmesh/access-token/testing';
import type { DomainEvent } from '@taskmesh/events';
import { loadConfig } from '@taskmesh/service-kit';
import { EventProducer, createKafka } from '@taskmesh/kafka';
import { MongoClient } from 'mongodb';
import { buildApp } from '../src/app.js';
import { ConfigSchema } from '../src/config.js';
import { statsTopics } from '../src/events/index.js';
import { mixedWorkload } from '../test/workload.js';

const USERS = 200;
const STEADY_SECONDS = 10;
/** Large enough that the first fetches and the group's start are a small part of the capacity figure. */
const BACKLOG = 4000;
const BACKLOG_LIMIT_MS = 25_000;
const TOTAL_BUDGET_MS = 110_000;
/** What the platform asks of one analytics process (docs/performance.md). */
const TARGET_RATE = 2000;
/** A steady phase counts as sustained when it caught up and p99 stayed under this. */
const SUSTAINED_P99_MS = 2000;

const startedAt = Date.now();
const elapsedMs = () => Date.now() - startedAt;
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
const storeStartedAt = new Map<string, number>();
const latencies: number[] = [];
const storeTimes: number[] = [];
let phase = 0;
let processed = 0;
const app = await buildApp(config, {
  logLevel: 'error',
  hooks: {
    beforeApply: (event) => void storeStartedAt.set(event.id, performance.now()),
    afterApply: (event) => {
      const now = performance.now();
      const storeStarted = storeStartedAt.get(event.id);
      storeStartedAt.delete(event.id);
      const sent = producedAt.get(event.id);
      if (sent === undefined) return;
      producedAt.delete(event.id);
      // A straggler of an earlier phase that did not keep up is not this phase's figure.
      if (sent.phase !== phase) return;
      latencies.push(now - sent.t);
      if (storeStarted !== undefined) storeTimes.push(now - storeStarted);
      processed++;
    },
  },
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(','), clientId: 'analytics-bench' });
const producer = new EventProducer(kafka);
await producer.connect();

// One stream, consumed phase after phase, so that each user's events stay in order.
// Enough for every phase at the highest rate this machine reaches (capacity, two steady phases near it, 200/s).
const stream = mixedWorkload({ users: USERS, events: 120_000, seed: 3 }).events;
const registrations = stream.filter((e) => e.type === 'UserRegistered');
const tasks = stream.filter((e) => e.type !== 'UserRegistered');
let cursor = 0;
const take = (n: number): DomainEvent[] => {
  const out = tasks.slice(cursor, cursor + n);
  // Counting events that were never sent would read as a backlog the consumer did not clear.
  if (out.length < n) throw new Error(`the workload ran out after ${cursor + out.length} events: make the stream longer`);
  cursor += out.length;
  return out;
};

async function produce(events: DomainEvent[]): Promise<void> {
  const now = performance.now();
  for (const e of events) producedAt.set(e.id, { t: now, phase });
  const byTopic = [
    [config.USER_EVENTS_TOPIC, events.filter((e) => e.type === 'UserRegistered')],
    [config.TASK_EVENTS_TOPIC, events.filter((e) => e.type !== 'UserRegistered')],
  ] as const;
  await Promise.all(
    byTopic.map(([topic, list]) =>
      producer.send(
        topic,
        list.map((e) => ({ key: e.key, value: e })),
      ),
    ),
  );
}

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

function nextPhase(): void {
  phase++;
  processed = 0;
  latencies.length = 0;
  storeTimes.length = 0;
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
  sustained: boolean;
  p50: number;
  p99: number;
  storeP50: number;
}

/** Produces at `rate` for the steady duration, pacing by elapsed time so that slow sends catch up. */
async function steady(rate: number, catchUpMs: number): Promise<PhaseResult> {
  nextPhase();
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < STEADY_SECONDS * 1000) {
    const due = Math.floor((rate * (performance.now() - t0)) / 1000) - sent;
    if (due > 0) {
      await produce(take(due));
      sent += due;
    }
    await sleep(20);
  }
  const producedFor = (performance.now() - t0) / 1000;
  const caughtUp = await waitUntilProcessed(sent, catchUpMs);
  const p99 = percentile(latencies, 99);
  return {
    rate,
    produced: sent,
    producedPerSecond: sent / producedFor,
    processedPerSecond: processed / ((performance.now() - t0) / 1000),
    sustained: caughtUp && p99 < SUSTAINED_P99_MS,
    p50: percentile(latencies, 50),
    p99,
    storeP50: percentile(storeTimes, 50),
  };
}

const ms = (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(0)} ms`);
const fmt = (r: PhaseResult) =>
  `rate ${r.rate}/s for ${STEADY_SECONDS} s: produced ${r.produced} (${r.producedPerSecond.toFixed(1)}/s), ` +
  `processed ${r.processedPerSecond.toFixed(1)} events/s, produce→stats p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, ` +
  `store writes p50 ${ms(r.storeP50)} per event` +
  (r.sustained ? ', sustained' : `, NOT sustained (backlog left or p99 ≥ ${SUSTAINED_P99_MS} ms)`);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

try {
  console.log(
    `analytics benchmark: Kafka ${config.KAFKA_BROKERS}, store ${config.MONGODB_URI}, ${USERS} users, ` +
      `${config.KAFKA_TOPIC_PARTITIONS} partitions per topic, ${os.cpus().length} CPUs, load average ${load()}`,
  );
  await produce(registrations);
  await waitUntilProcessed(registrations.length, 20_000);

  nextPhase();
  const t0 = performance.now();
  await produce(take(BACKLOG));
  await waitUntilProcessed(BACKLOG, BACKLOG_LIMIT_MS);
  const capacity = processed / ((performance.now() - t0) / 1000);
  console.log(
    `capacity: backlog of ${BACKLOG} events, ${processed} processed at ${capacity.toFixed(1)} events/s, store writes p50 ${ms(percentile(storeTimes, 50))} per event`,
  );

  let best: PhaseResult | undefined;
  // Highest first: 80% of the capacity, the platform's target when below that, then 60%.
  const rates = [...new Set([Math.floor(capacity * 0.8), TARGET_RATE, Math.floor(capacity * 0.6)])]
    .filter((r) => r >= 1 && r <= Math.floor(capacity * 0.8))
    .sort((a, b) => b - a);
  for (const rate of rates) {
    // Leave room for the 200/s phase (10 s plus its catch-up).
    if (TOTAL_BUDGET_MS - elapsedMs() < 2 * STEADY_SECONDS * 1000 + 25_000) break;
    const result = await steady(rate, 8000);
    console.log(fmt(result));
    if (result.sustained) {
      best = result;
      break;
    }
  }

  const at200 = await steady(200, Math.max(5000, TOTAL_BUDGET_MS - elapsedMs() - STEADY_SECONDS * 1000));
  console.log(fmt(at200));
  console.log(
    best
      ? `highest sustained rate measured: ${best.rate} events/s (p50 ${ms(best.p50)}, p99 ${ms(best.p99)})`
      : 'no steady rate tried was sustained; the capacity line is the ceiling measured',
  );
  console.log(`load average at the end: ${load()}; total ${(elapsedMs() / 1000).toFixed(0)} s`);
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
