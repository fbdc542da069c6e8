/**
 * The whole system in one process: auth, task and analytics, each listening on a free port of
 * 127.0.0.1, and the gateway in front of them, against the shared Redis, Kafka and MongoDB-wire
 * server, with databases, topics, a consumer group and rate-limit keys of their own. Real HTTP
 * between every hop, as in `npm start`, without needing a build of `dist/`.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { buildApp as buildGateway } from '../gateway/src/app.js';
import { ConfigSchema as GatewayConfig } from '../gateway/src/config.js';
import { buildApp as buildAnalytics } from '../services/analytics/src/app.js';
import { ConfigSchema as AnalyticsConfig } from '../services/analytics/src/config.js';
import { buildApp as buildAuth } from '../services/auth/src/app.js';
import { ConfigSchema as AuthConfig } from '../services/auth/src/config.js';
import { generateSigningKeyPem } from '../services/auth/src/domain/keys/signing-keys.js';
import { buildApp as buildTask } from '../services/task/src/app.js';
import { ConfigSchema as TaskConfig } from '../services/task/src/config.js';

export interface StackInfra {
  readonly redisUrl: string;
  readonly kafkaBrokers: string;
  readonly mongodbUri: string;
}

export interface FullStack {
  readonly gateway: FastifyInstance;
  readonly auth: FastifyInstance;
  readonly task: FastifyInstance;
  readonly analytics: FastifyInstance;
  /** `http://127.0.0.1:<port>` of the gateway. */
  readonly gatewayUrl: string;
  /** Closes the apps (gateway first) and drops their databases. */
  close(): Promise<void>;
}

export interface FullStackOptions {
  /** Gateway settings on top of the stack's own, e.g. higher rate limits. @default {} */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
  /** Auth settings on top of the stack's own. @default {} */
  readonly authEnv?: Readonly<Record<string, string>>;
}

const origin = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

export async function startFullStack(infra: StackInfra, opts: FullStackOptions = {}): Promise<FullStack> {
  const id = randomUUID().slice(0, 8);
  const userTopic = `test-${id}.user-events`;
  const taskTopic = `test-${id}.task-events`;
  const databases = { auth: `stack_auth_${id}`, task: `stack_task_${id}`, analytics: `stack_analytics_${id}` };
  const common = { MONGODB_URI: infra.mongodbUri, KAFKA_BROKERS: infra.kafkaBrokers, LOG_LEVEL: 'silent' };
  const apps: FastifyInstance[] = [];
  const close = async () => {
    for (const app of [...apps].reverse()) await app.close().catch(() => {});
    const client = await MongoClient.connect(infra.mongodbUri);
    try {
      for (const db of Object.values(databases)) await client.db(db).dropDatabase();
    } finally {
      await client.close();
    }
  };
  const listen = async (app: FastifyInstance) => {
    apps.push(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return app;
  };

  try {
    const auth = await listen(
      await buildAuth(
        loadConfig(AuthConfig, {
          ...common,
          MONGODB_DB: databases.auth,
          AUTH_SIGNING_KEY_CURRENT: generateSigningKeyPem(),
          OUTBOX_RELAY_INTERVAL_MS: '200',
          ...opts.authEnv,
        }),
        { logLevel: false },
      ),
    );
    const jwks = { JWKS_URL: `${origin(auth)}/.well-known/jwks.json` };
    const analytics = await listen(
      await buildAnalytics(
        loadConfig(AnalyticsConfig, {
          ...common,
          ...jwks,
          MONGODB_DB: databases.analytics,
          USER_EVENTS_TOPIC: userTopic,
          TASK_EVENTS_TOPIC: taskTopic,
          KAFKA_GROUP_ID: `stack-${id}`,
          KAFKA_TOPIC_PARTITIONS: '1',
          KAFKA_SESSION_TIMEOUT_MS: '6000',
        }),
        { logLevel: false },
      ),
    );
    const task = await listen(
      await buildTask(
        loadConfig(TaskConfig, { ...common, ...jwks, MONGODB_DB: databases.task, TASK_EVENTS_TOPIC: taskTopic, OUTBOX_POLL_MS: '100' }),
        { logLevel: false },
      ),
    );
    const gateway = await listen(
      await buildGateway(
        loadConfig(GatewayConfig, {
          ...common,
          ...jwks,
          REDIS_URL: infra.redisUrl,
          AUTH_URL: origin(auth),
          TASK_URL: origin(task),
          ANALYTICS_URL: origin(analytics),
          RATE_LIMIT_KEY_PREFIX: `stack:${id}:`,
          ...opts.gatewayEnv,
        }),
        { logLevel: false },
      ),
    );
    // Redis connects after start-up: until then the strict routes answer 503 (by design).
    const deadline = Date.now() + 30_000;
    let last = 'no answer';
    for (;;) {
      const res = await fetch(`${origin(gateway)}/health/ready`).catch((err: Error) => err);
      if (!(res instanceof Error) && res.status === 200) break;
      last = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
      if (Date.now() > deadline) throw new Error(`the gateway was not ready within 30 s (last answer: ${last})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { gateway, auth, task, analytics, gatewayUrl: origin(gateway), close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
