import { randomUUID } from 'node:crypto';
import { createKafka, startConsumer, type ConsumedMessage, type ConsumerHandle, type Kafka } from '@taskmesh/kafka';
import { createMongoClient } from '@taskmesh/mongo';
import type { CommandStartedEvent, Collection, Db, MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, startKafka, stopInstance, type Started } from '../../../scripts/infra-lib.mjs';
import { OutboxPublisher, OutboxRelay, watchChanges, type OutboxStore, type OutboxWork, type RelaySettings } from '../src/index.js';

/** An event as a service stores it: its key, its order within the key, the envelope. */
interface StoredEvent {
  _id: string;
  key: string;
  seq: number;
  event: { id: string; type: string; key: string; n: number };
}

interface KeyWork extends OutboxWork {
  readonly ids: string[];
}

/** The smallest real store: one collection of events; a claim takes the oldest, grouped by key. */
class CollectionStore implements OutboxStore<KeyWork> {
  acknowledged = 0;
  released = 0;
  constructor(readonly events: Collection<StoredEvent>) {}

  async claim(maxMessages: number): Promise<KeyWork[]> {
    const docs = await this.events.find({}).sort({ seq: 1 }).limit(maxMessages).toArray();
    const byKey = new Map<string, StoredEvent[]>();
    for (const d of docs) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
    const more = docs.length === maxMessages;
    return [...byKey.values()].map((list) => ({
      ids: list.map((d) => d._id),
      messages: list.map((d) => ({ key: d.key, value: d.event, headers: { origin: 'test' } })),
      more,
    }));
  }

  async acknowledge(work: readonly KeyWork[]): Promise<void> {
    this.acknowledged++;
    await this.events.deleteMany({ _id: { $in: work.flatMap((w) => w.ids) } });
  }

  async release(): Promise<void> {
    this.released++;
  }
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const unique = (what: string) => `test.outbox.${what}.${randomUUID().slice(0, 8)}`;

/** Creates the topic (as the relay would) and reads it from the beginning with a group of its own. */
async function read(kafka: Kafka, topic: string): Promise<{ messages: ConsumedMessage[]; consumer: ConsumerHandle }> {
  const publisher = new OutboxPublisher(kafka, topic);
  await publisher.prepare();
  await publisher.close();
  const messages: ConsumedMessage[] = [];
  const consumer = await startConsumer(kafka, { groupId: unique('reader'), topics: [topic], handle: async (m) => void messages.push(m) });
  return { messages, consumer };
}

let seq = 0;
const stored = (key: string, n: number): StoredEvent => {
  const id = randomUUID();
  return { _id: id, key, seq: ++seq, event: { id, type: 'TestHappened', key, n } };
};
const numbers = (messages: ConsumedMessage[], key: string) =>
  messages.filter((m) => m.key === key).map((m) => (JSON.parse(m.value!.toString()) as StoredEvent['event']).n);

describe('the outbox relay against the real broker and store', () => {
  let client: MongoClient;
  let db: Db;
  let kafka: Kafka;
  const commands: CommandStartedEvent[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    client = createMongoClient({ uri: inject('infra').mongodbUri, monitorCommands: true });
    client.on('commandStarted', (e) => commands.push(e));
    await client.connect();
    db = client.db(`outbox_test_${randomUUID().slice(0, 8)}`);
    kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'outbox-test' });
  });
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });
  afterAll(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  const relayOver = (store: CollectionStore, topic: string, settings: Partial<RelaySettings> = {}, k = kafka) => {
    const failures: unknown[] = [];
    const relay = new OutboxRelay<KeyWork>({
      store,
      publisher: new OutboxPublisher(k, topic),
      settings: { pollMs: 50, maxBackoffMs: 400, ...settings },
      log: silent,
      hooks: { onFailure: (err) => failures.push(err) },
      ...(settings.watchPollMs
        ? {
            changes: (onChange: () => void) =>
              watchChanges(store.events, [{ $match: { operationType: 'insert' } }], { onChange, log: silent }),
          }
        : {}),
    });
    cleanup.push(() => relay.stop());
    return { relay, failures };
  };

  it('when events of several keys are stored, then each arrives once, in order per key, and each round removes its events in one command', async () => {
    const topic = unique('order');
    const store = new CollectionStore(db.collection<StoredEvent>(unique('events')));
    await store.events.insertMany(Array.from({ length: 40 }, (_, i) => stored(i % 2 ? 'odd' : 'even', i)));
    const { messages, consumer } = await read(kafka, topic);
    cleanup.push(() => consumer.stop());

    const deletesBefore = commands.filter((c) => c.commandName === 'delete').length;
    const { relay } = relayOver(store, topic, { maxMessagesPerRound: 7 });
    relay.start();

    await expect.poll(() => messages.length, { timeout: 20_000 }).toBe(40);
    expect(numbers(messages, 'even')).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
    expect(numbers(messages, 'odd')).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
    expect(messages[0]!.headers).toMatchObject({ origin: 'test', 'event-type': 'TestHappened' });
    expect(await store.events.countDocuments()).toBe(0);
    // 40 events, 7 a round: 6 rounds, each removing what it sent in one delete command.
    expect(store.acknowledged).toBe(6);
    expect(commands.filter((c) => c.commandName === 'delete').length - deletesBefore).toBe(6);
  });

  it('when another process stores an event, then the change stream wakes the relay long before its poll would', async () => {
    const topic = unique('wake');
    const store = new CollectionStore(db.collection<StoredEvent>(unique('events')));
    const { messages, consumer } = await read(kafka, topic);
    cleanup.push(() => consumer.stop());
    // Polling once a minute: only the change stream can bring this event out within the poll below.
    const { relay } = relayOver(store, topic, { pollMs: 60_000, watchPollMs: 60_000 });
    relay.start();
    await new Promise((r) => setTimeout(r, 500));

    await store.events.insertOne(stored('writer', 1));
    await expect.poll(() => numbers(messages, 'writer'), { timeout: 10_000 }).toEqual([1]);
    await expect.poll(() => store.events.countDocuments(), { timeout: 5000 }).toBe(0);
  });

  it('when the broker is down, then each failed round gives its work back and the events stay; once it is back, a fresh producer sends them in order', async () => {
    const port = await freePort();
    const controllerPort = await freePort();
    let broker: Started = await startKafka({ port, controllerPort });
    cleanup.push(() => stopInstance(broker));
    const own = createKafka({
      brokers: [broker.brokers],
      clientId: 'outbox-test-outage',
      retries: 1,
      connectionTimeoutMs: 500,
      requestTimeoutMs: 2000,
    });
    const topic = unique('outage');
    const store = new CollectionStore(db.collection<StoredEvent>(unique('events')));
    const { relay, failures } = relayOver(store, topic, { pollMs: 50, maxBackoffMs: 1000 }, own);
    await store.events.insertOne(stored('k', 0));
    relay.start();
    await expect.poll(() => store.events.countDocuments(), { timeout: 30_000 }).toBe(0);

    await stopInstance(broker, { keepData: true });
    await store.events.insertMany([1, 2, 3].map((n) => stored('k', n)));
    relay.wake();
    await expect.poll(() => failures.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    expect(store.released).toBeGreaterThanOrEqual(3);
    expect(await store.events.countDocuments()).toBe(3);

    broker = await startKafka({ port, controllerPort });
    await expect.poll(() => store.events.countDocuments(), { timeout: 60_000 }).toBe(0);
    const { messages, consumer } = await read(own, topic);
    cleanup.push(() => consumer.stop());
    await expect.poll(() => numbers(messages, 'k'), { timeout: 30_000 }).toEqual([0, 1, 2, 3]);
  }, 180_000);
});
