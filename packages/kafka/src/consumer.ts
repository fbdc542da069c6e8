import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { Log } from './client.js';

export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
  /** Broker timestamp, milliseconds since the epoch. */
  readonly timestamp: number;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a new group starts. @default true */
  readonly fromBeginning?: boolean;
  /** Called once per message, in order per partition; the offset is committed only after it resolves. */
  readonly handle: (message: ConsumedMessage) => Promise<void>;
  /** Commit at least this often while a long batch is processed. @default 200 messages */
  readonly commitEvery?: number;
  /** Partitions processed side by side. @default 1 */
  readonly partitionsConcurrently?: number;
  readonly log?: Log;
  /** The consumer stopped for good (retries exhausted): the service should exit and restart. */
  readonly onCrash?: (err: Error) => void;
  /** Session timeout; a dead member's partitions move after this long. @default 10000 */
  readonly sessionTimeoutMs?: number;
}

export interface ConsumerHandle {
  readonly groupId: string;
  /** True between joining the group and stopping or crashing. */
  isRunning(): boolean;
  stop(): Promise<void>;
}

export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return out;
}

function toConsumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ? m.key.toString('utf8') : null,
    value: m.value,
    headers: decodeHeaders(m.headers),
    timestamp: Number(m.timestamp),
  };
}

/**
 * Runs a consumer group member that commits an offset only after the handler has succeeded for
 * that message and every earlier one in its partition: a crash between the two redelivers the
 * message (at least once), never skips it. If the handler throws, the successes before it are
 * committed and the batch is fetched again from the failed message.
 */
export async function startConsumer(kafka: Kafka, opts: ConsumerOptions): Promise<ConsumerHandle> {
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 250,
  });
  let running = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    running = true;
  });
  consumer.on(consumer.events.STOP, () => {
    running = false;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    const { error, restart } = e.payload;
    opts.log?.error({ err: error, groupId: opts.groupId, restart }, 'consumer crashed');
    if (!restart) {
      running = false;
      opts.onCrash?.(error);
    }
  });

  await consumer.connect();
  await consumer.subscribe({ topics: [...opts.topics], fromBeginning: opts.fromBeginning ?? true });
  const commitEvery = opts.commitEvery ?? 200;

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConcurrently ?? 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      let done: string | undefined;
      let sinceCommit = 0;
      const commit = async () => {
        if (done === undefined) return;
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(done) + 1n).toString() }]);
        sinceCommit = 0;
      };
      try {
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) break;
          await opts.handle(toConsumed(batch.topic, batch.partition, message));
          resolveOffset(message.offset);
          done = message.offset;
          if (++sinceCommit >= commitEvery) await commit();
          await heartbeat();
        }
      } finally {
        if (!isStale()) await commit();
      }
    },
  });

  return {
    groupId: opts.groupId,
    isRunning: () => running,
    stop: async () => {
      await consumer.disconnect();
      running = false;
    },
  };
}
