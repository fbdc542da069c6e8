import { randomUUID } from 'node:crypto';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import { loadConfig } from '@taskmesh/service-kit';
import { createKafka, ensureTopics, startConsumer, type ConsumedMessage, type ConsumerHandle } from '@taskmesh/kafka';
import { createMongoClient } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import type { CommandStartedEvent, Document, MongoClient } from 'mongodb';
import { buildApp } from '../src/app.js';
import { ConfigSchema, type Config } from '../src/config.js';

/** Commands that name the collection but carry no query: index and cursor housekeeping. */
const HOUSEKEEPING = new Set(['createIndexes', 'listIndexes', 'getMore', 'killCursors', 'drop', 'dropIndexes', 'collStats']);

/**
 * Watches every command the driver sends and records each one on the tasks collection whose
 * filter does not name one owner (`ownerId` equal to a string): on a collection sharded by
 * `{ ownerId: "hashed" }` that command would go to every shard.
 */
export class ShardKeyWatcher {
  readonly violations: string[] = [];
  /** Commands on the tasks collection seen so far, so a test can tell the watcher was listening. */
  checked = 0;

  constructor(
    private readonly dbName: string,
    private readonly collection = 'tasks',
  ) {}

  attach(client: MongoClient): void {
    client.on('commandStarted', (e: CommandStartedEvent) => this.check(e));
  }

  check(e: CommandStartedEvent): void {
    if (e.databaseName !== this.dbName) return;
    const cmd = e.command as Document;
    if (cmd[e.commandName] !== this.collection) return;
    if (HOUSEKEEPING.has(e.commandName)) return;
    this.checked++;
    const filters = filtersOf(e.commandName, cmd);
    if (!filters) {
      this.violations.push(`${e.commandName} is not a command the watcher knows: ${JSON.stringify(cmd)}`);
      return;
    }
    for (const f of filters) {
      if (typeof (f as { ownerId?: unknown } | undefined)?.ownerId !== 'string') {
        this.violations.push(`${e.commandName} without an ownerId: ${JSON.stringify(f)}`);
      }
    }
  }
}

function filtersOf(name: string, cmd: Document): unknown[] | undefined {
  switch (name) {
    case 'find':
    case 'count':
    case 'distinct':
      return [name === 'find' ? cmd.filter : cmd.query];
    case 'findAndModify':
      return [cmd.query];
    case 'update':
      return (cmd.updates as Document[]).map((u) => u.q);
    case 'delete':
      return (cmd.deletes as Document[]).map((d) => d.q);
    case 'insert':
      return cmd.documents as Document[];
    case 'aggregate':
      return [(cmd.pipeline as Document[])[0]?.$match];
    default:
      return undefined;
  }
}

export interface Infra {
  readonly mongodbUri: string;
  readonly kafkaBrokers: string;
}

export interface TaskHarness {
  readonly config: Config;
  readonly client: MongoClient;
  readonly issuer: TestIssuer;
  readonly watcher: ShardKeyWatcher;
  /** Builds one more instance of the service on the same database (a second pod). */
  app(overrides?: Partial<Config>): Promise<FastifyInstance>;
  /**
   * Creates and reads a task as a new user on `app` and returns how many commands on the tasks
   * collection the watcher saw meanwhile: proof that it listens, whatever ran before.
   */
  watchedCommands(app: FastifyInstance): Promise<number>;
  /** Closes every app, then fails if any command of the file did not name one owner, and drops the database. */
  close(): Promise<void>;
}

/**
 * The task service's test harness: a fresh database per test file, one MongoClient with command
 * monitoring shared by every app the file builds (so the watcher sees all their commands, and
 * `close` fails the file on any that does not name its owner), and a token issuer with a real JWKS.
 */
export async function taskHarness(infra: Infra, overrides: Partial<Config> = {}): Promise<TaskHarness> {
  const dbName = `task_test_${randomUUID().slice(0, 8)}`;
  const issuer = await createTestIssuer();
  const watcher = new ShardKeyWatcher(dbName);
  const client = createMongoClient({ uri: infra.mongodbUri, monitorCommands: true, appName: 'task-test' });
  watcher.attach(client);
  await client.connect();
  const config: Config = {
    ...loadConfig(ConfigSchema, {}),
    MONGODB_URI: infra.mongodbUri,
    MONGODB_DB: dbName,
    KAFKA_BROKERS: infra.kafkaBrokers,
    TASK_EVENTS_TOPIC: `test.task-events.${randomUUID().slice(0, 8)}`,
    JWKS_URL: issuer.jwksUrl,
    CURSOR_SECRET: randomUUID() + randomUUID(),
    OUTBOX_POLL_MS: 50,
    OUTBOX_SETTLE_MS: 500,
    OUTBOX_MAX_BACKOFF_MS: 1000,
    ...overrides,
  };
  const apps: FastifyInstance[] = [];
  return {
    config,
    client,
    issuer,
    watcher,
    async app(more = {}) {
      const app = await buildApp({ ...config, ...more }, { logLevel: process.env.TASK_TEST_LOG ?? false, mongoClient: client });
      await app.ready();
      apps.push(app);
      return app;
    },
    async watchedCommands(app) {
      const before = watcher.checked;
      const headers = { authorization: `Bearer ${await issuer.token(`watch-${randomUUID()}`)}` };
      const created = await app.inject({ method: 'POST', url: '/tasks', headers, payload: { title: 'watched' } });
      await app.inject({ method: 'GET', url: `/tasks/${json<{ id: string }>(created).id}`, headers });
      return watcher.checked - before;
    },
    async close() {
      for (const app of apps) await app.close();
      if (watcher.violations.length > 0) {
        throw new Error(`commands on the tasks collection without an owner:\n${watcher.violations.join('\n')}`);
      }
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => undefined);
      await client.close();
      await issuer.close();
    },
  };
}

/** Reads a topic from the beginning with a group of its own, keeping every message. */
export async function readTopic(brokers: string, topic: string): Promise<{ messages: ConsumedMessage[]; stop(): Promise<void> }> {
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'task-test-reader' });
  await ensureTopics(kafka, [{ topic }]);
  const messages: ConsumedMessage[] = [];
  const consumer: ConsumerHandle = await startConsumer(kafka, {
    groupId: `task-test-${randomUUID().slice(0, 8)}`,
    topics: [topic],
    fromBeginning: true,
    handle: async (m) => {
      messages.push(m);
    },
  });
  return { messages, stop: () => consumer.stop() };
}

/** The JSON body of an inject response. */
export const json = <T = Record<string, unknown>>(res: { body: string }): T => JSON.parse(res.body) as T;

export { metricValue } from '@taskmesh/service-kit/testing';
