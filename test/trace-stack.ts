/**
 * The gateway, task and analytics apps built in one process against the shared Redis, Kafka and
 * local MongoDB-wire server, each listening on a free port of 127.0.0.1, with a database, topics, a consumer group
 * and rate-limit keys of their own. Used by the end-to-end trace test and by the dashboards test,
 * which scrapes the services' own metrics from it.
 *
 * It imports the apps, so a test that traces them imports this module only after tracing started.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import { loadConfig } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { buildApp as buildGateway } from '../gateway/src/app.js';
import { ConfigSchema as GatewayConfig } from '../gateway/src/config.js';
import { buildApp as buildAnalytics } from '../services/analytics/src/app.js';
import { ConfigSchema as AnalyticsConfig } from '../services/analytics/src/config.js';
import { buildApp as buildTask } from '../services/task/src/app.js';
import { ConfigSchema as TaskConfig } from '../services/task/src/config.js';

export interface StackInfra {
  readonly redisUrl: string;
  readonly kafkaBrokers: string;
  readonly mongodbUri: string;
}

export interface PlatformStack {
  readonly gateway: FastifyInstance;
  readonly task: FastifyInstance;
  readonly analytics: FastifyInstance;
  /** `http://127.0.0.1:<port>` of the gateway. */
  readonly gatewayUrl: string;
  readonly issuer: TestIssuer;
  /** The task topic of this stack (task publishes to it, analytics reads it). */
  readonly taskTopic: string;
  readonly analyticsGroup: string;
  /** A new user id each call, in the form auth hands out. */
  newUserId(): string;
  /** Closes the apps, drops the databases and stops the JWKS server. */
  close(): Promise<void>;
}

const origin = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

export interface StackOptions {
  /** Gateway settings on top of the stack's own, e.g. a lower RATE_LIMIT_API_PER_MINUTE. @default {} */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
}

export async function startPlatformStack(infra: StackInfra, opts: StackOptions = {}): Promise<PlatformStack> {
  const id = randomUUID().slice(0, 8);
  const issuer = await createTestIssuer();
  const common = {
    MONGODB_URI: infra.mongodbUri,
    KAFKA_BROKERS: infra.kafkaBrokers,
    JWKS_URL: issuer.jwksUrl,
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: issuer.audience,
    LOG_LEVEL: 'silent',
  };
  const taskTopic = `test-${id}.task-events`;
  const analyticsGroup = `trace-${id}`;
  const databases = [`trace_task_${id}`, `trace_analytics_${id}`];
  const apps: FastifyInstance[] = [];
  const close = async () => {
    // The gateway first, then the services it calls; analytics leaves its group as it closes.
    for (const app of [...apps].reverse()) await app.close().catch(() => {});
    const client = await MongoClient.connect(infra.mongodbUri);
    try {
      for (const db of databases) await client.db(db).dropDatabase();
    } finally {
      await client.close();
    }
    await issuer.close();
  };

  try {
    const analytics = await buildAnalytics(
      loadConfig(AnalyticsConfig, {
        ...common,
        MONGODB_DB: databases[1],
        USER_EVENTS_TOPIC: `test-${id}.user-events`,
        TASK_EVENTS_TOPIC: taskTopic,
        KAFKA_GROUP_ID: analyticsGroup,
        KAFKA_TOPIC_PARTITIONS: '1',
        KAFKA_SESSION_TIMEOUT_MS: '6000',
      }),
      { logLevel: false },
    );
    apps.push(analytics);
    await analytics.listen({ host: '127.0.0.1', port: 0 });

    const task = await buildTask(
      loadConfig(TaskConfig, {
        ...common,
        MONGODB_DB: databases[0],
        TASK_EVENTS_TOPIC: taskTopic,
        OUTBOX_POLL_MS: '100',
      }),
      { logLevel: false },
    );
    apps.push(task);
    await task.listen({ host: '127.0.0.1', port: 0 });

    const gateway = await buildGateway(
      loadConfig(GatewayConfig, {
        ...common,
        REDIS_URL: infra.redisUrl,
        TASK_URL: origin(task),
        ANALYTICS_URL: origin(analytics),
        // No auth service in this stack: the routes to it answer 502, which no test here uses.
        AUTH_URL: 'http://127.0.0.1:9',
        RATE_LIMIT_KEY_PREFIX: `trace:${id}:`,
        ...opts.gatewayEnv,
      }),
      { logLevel: false },
    );
    apps.push(gateway);
    await gateway.listen({ host: '127.0.0.1', port: 0 });

    return {
      gateway,
      task,
      analytics,
      gatewayUrl: origin(gateway),
      issuer,
      taskTopic,
      analyticsGroup,
      newUserId: () => randomBytes(12).toString('hex'),
      close,
    };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
