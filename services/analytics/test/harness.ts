import { randomUUID } from 'node:crypto';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import { TOPIC_OF, envelope, type DomainEvent } from '@taskmesh/events';
import { loadConfig } from '@taskmesh/service-kit';
import { EventProducer, consumerLag, createKafka, ensureTopics, type Kafka } from '@taskmesh/kafka';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { expect, inject } from 'vitest';
import { buildApp, type AppOptions } from '../src/app.js';
import { ConfigSchema, type Config } from '../src/config.js';
import { statsTopics, type StatsTopics } from '../src/events/index.js';
import type { Reference } from './workload.js';

/** A configuration of its own for one test: random database, topics and consumer group. */
export function testConfig(issuer: TestIssuer, env: Record<string, string> = {}): Config {
  const infra = inject('infra');
  const id = randomUUID().slice(0, 8);
  return loadConfig(ConfigSchema, {
    MONGODB_URI: infra.mongodbUri,
    REDIS_URL: infra.redisUrl,
    MONGODB_DB: `analytics_test_${id}`,
    KAFKA_BROKERS: infra.kafkaBrokers,
    USER_EVENTS_TOPIC: `test-${id}.user-events`,
    TASK_EVENTS_TOPIC: `test-${id}.task-events`,
    KAFKA_GROUP_ID: `analytics-test-${id}`,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    JWKS_URL: issuer.jwksUrl,
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export const topicsOf = (config: Config): StatsTopics =>
  statsTopics(config.KAFKA_GROUP_ID, config.USER_EVENTS_TOPIC, config.TASK_EVENTS_TOPIC);

/** A producer standing in for auth and task, writing to the test's own topics. */
export class TestProducer {
  readonly kafka: Kafka;
  readonly producer: EventProducer;

  constructor(private readonly config: Config) {
    this.kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(','), clientId: 'analytics-test' });
    this.producer = new EventProducer(this.kafka);
  }

  topicOf(event: DomainEvent): string {
    return TOPIC_OF[event.type] === TOPIC_OF.UserRegistered ? this.config.USER_EVENTS_TOPIC : this.config.TASK_EVENTS_TOPIC;
  }

  /** Creates the test's topics as the service would, for tests that produce before it starts. */
  async ensureTopics(): Promise<void> {
    const t = topicsOf(this.config);
    await ensureTopics(
      this.kafka,
      [t.userEvents, t.taskEvents, t.retry, t.deadLetters].map((topic) => ({ topic, numPartitions: this.config.KAFKA_TOPIC_PARTITIONS })),
    );
  }

  /** Sends in order, in chunks; per user the order is kept because the key is the user id. */
  async send(events: readonly DomainEvent[], chunk = 250): Promise<void> {
    for (const topic of [this.config.USER_EVENTS_TOPIC, this.config.TASK_EVENTS_TOPIC]) {
      const mine = events.filter((e) => this.topicOf(e) === topic);
      for (let i = 0; i < mine.length; i += chunk) {
        await this.producer.send(
          topic,
          mine.slice(i, i + chunk).map((e) => ({ key: e.key, value: e })),
        );
      }
    }
  }

  /** Sends raw bytes, e.g. a message that is not an event at all. */
  async sendRaw(topic: string, key: string, value: string, headers?: Record<string, string>): Promise<void> {
    await this.producer.send(topic, [{ key, value, ...(headers ? { headers } : {}) }]);
  }

  /** Waits until the group has committed everything on its source topics. */
  async drained(config: Config, timeoutMs = 110_000): Promise<void> {
    const t = topicsOf(config);
    await expect
      .poll(
        async () =>
          (await consumerLag(this.kafka, config.KAFKA_GROUP_ID, [t.userEvents, t.taskEvents, t.retry])).reduce((s, l) => s + l.lag, 0),
        {
          timeout: timeoutMs,
          interval: 250,
        },
      )
      .toBe(0);
  }

  /** Deletes the test's topics so that the shared broker does not fill up. */
  async cleanup(config: Config): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const t = topicsOf(config);
      const existing = new Set(await admin.listTopics());
      const mine = [t.userEvents, t.taskEvents, t.retry, t.deadLetters].filter((x) => existing.has(x));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 10_000 });
    } finally {
      await admin.disconnect();
    }
  }
}

export async function dropDatabase(config: Config): Promise<void> {
  const client = new MongoClient(config.MONGODB_URI);
  try {
    await client.connect();
    await client.db(config.MONGODB_DB).dropDatabase();
  } finally {
    await client.close();
  }
}

export { metricValue } from '@taskmesh/service-kit/testing';

/** A random 24-hex-digit id, as task ids are. */
export const hex24 = (): string => crypto.randomUUID().replace(/-/g, '').slice(0, 24);

/** A `TaskCreated` of a new task of `userId`, created now. */
export const taskCreated = (userId: string): DomainEvent =>
  envelope('TaskCreated', userId, {
    taskId: hex24(),
    ownerId: userId,
    status: 'todo' as const,
    dueAt: null,
    createdAt: new Date().toISOString(),
    version: 1,
  }) as DomainEvent;

/** Non-zero days of a dense per-day series, as a map. */
export const nonZeroDays = (series: { date: string; count: number }[]): Record<string, number> =>
  Object.fromEntries(series.filter((d) => d.count > 0).map((d) => [d.date, d.count]));

/** Asserts that every user's statistics and the overview equal the reference, through the HTTP API. */
export async function expectStatsToMatch(app: FastifyInstance, issuer: TestIssuer, reference: Reference): Promise<void> {
  for (const [userId, ref] of reference.users) {
    const res = await app.inject({
      method: 'GET',
      url: '/analytics/me',
      headers: { authorization: `Bearer ${await issuer.token(userId)}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect({ ...body, completedPerDay: nonZeroDays(body.completedPerDay) }, `statistics of user ${userId}`).toEqual({
      userId,
      tasksCreated: ref.tasksCreated,
      tasksCompleted: ref.tasksCompleted,
      tasksDeleted: ref.tasksDeleted,
      tasksOpen: ref.tasksOpen,
      completedPerDay: ref.completedPerDay,
      completionTimeMsTotal: ref.completionTimeMsTotal,
      completionCount: ref.completionCount,
      averageCompletionMs: ref.completionCount > 0 ? Math.round(ref.completionTimeMsTotal / ref.completionCount) : 0,
    });
  }
  const res = await app.inject({
    method: 'GET',
    url: '/analytics/overview',
    headers: { authorization: `Bearer ${await issuer.token('admin-1', 'admin')}` },
  });
  expect(res.statusCode).toBe(200);
  const body = res.json();
  const g = reference.global;
  expect({ ...body, createdPerDay: nonZeroDays(body.createdPerDay), completedPerDay: nonZeroDays(body.completedPerDay) }).toEqual({
    ...g,
    averageCompletionMs: g.completionCount > 0 ? Math.round(g.completionTimeMsTotal / g.completionCount) : 0,
  });
}

/** Silent unless ANALYTICS_TEST_LOG_LEVEL asks for logs (when a test needs looking into). */
export const testLogLevel: string | false = process.env.ANALYTICS_TEST_LOG_LEVEL ?? false;

export interface AnalyticsHarness {
  readonly issuer: TestIssuer;
  readonly config: Config;
  /** Stands in for auth and task on the test's own topics. */
  readonly producer: TestProducer;
  /** The app, once built (by `analyticsHarness`, or later by `start`). */
  readonly app: FastifyInstance;
  /** Builds the app (for a test that needs something to happen before it starts). */
  start(opts?: AppOptions): Promise<FastifyInstance>;
  /** Closes the app, deletes the test's topics, drops its database, stops the issuer. */
  close(): Promise<void>;
}

/**
 * The analytics service's test harness: a token issuer with a real JWKS, a configuration of its
 * own (database, topics, consumer group), a producer, the app (unless `app: false`) and the
 * teardown of all four.
 */
export async function analyticsHarness(opts: { env?: Record<string, string>; app?: AppOptions | false } = {}): Promise<AnalyticsHarness> {
  const issuer = await createTestIssuer();
  const config = testConfig(issuer, opts.env);
  const producer = new TestProducer(config);
  let app: FastifyInstance | undefined;
  const h: AnalyticsHarness = {
    issuer,
    config,
    producer,
    get app() {
      if (!app) throw new Error('the app is not built yet: call start()');
      return app;
    },
    async start(appOpts = {}) {
      app = await buildApp(config, { logLevel: testLogLevel, ...appOpts });
      return app;
    },
    async close() {
      await app?.close();
      await producer.cleanup(config);
      await dropDatabase(config).catch(() => undefined);
      await issuer.close();
    },
  };
  if (opts.app !== false) await h.start(opts.app ?? {});
  return h;
}
