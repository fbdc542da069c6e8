import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { Registry } from 'prom-client';
import { registryOf, type Log } from './client.js';
import { kafkaMetrics } from './metrics.js';
import { inProcessSpan } from './tracing.js';

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
  readonly handle?: (message: ConsumedMessage) => Promise<void>;
  /**
   * Instead of `handle`: called with up to `commitEvery` consecutive messages of one partition at
   * a time (a micro-batch of what one fetch brought), whose offsets are committed once it resolves.
   * `inSpan` runs work in a message's `process <topic>` span, which continues the producer's trace;
   * no other span is made per message.
   */
  readonly handleBatch?: (messages: readonly ConsumedMessage[], inSpan: InMessageSpan) => Promise<void>;
  /** Commit at least this often while a long batch is processed; the size of `handleBatch`'s micro-batches. @default 200 messages */
  readonly commitEvery?: number;
  /** Partitions processed side by side. @default 1 */
  readonly partitionsConcurrently?: number;
  readonly log?: Log;
  /** The consumer stopped for good (retries exhausted): the service should exit and restart. */
  readonly onCrash?: (err: Error) => void;
  /** Session timeout; a dead member's partitions move after this long. @default 10000 */
  readonly sessionTimeoutMs?: number;
  /**
   * How long the broker holds a fetch when nothing is there. It answers as soon as a message
   * arrives, so this costs no latency; it sets how often an idle consumer asks. @default 2000
   */
  readonly maxWaitMs?: number;
  /**
   * Counts `kafka_messages_consumed_total` and sets `kafka_consumer_lag` here.
   * @default the registry given to `createKafka`, if any
   */
  readonly metrics?: Registry;
}

/** Runs `fn` in the message's `process <topic>` span. */
export type InMessageSpan = <T>(message: ConsumedMessage, fn: () => Promise<T>) => Promise<T>;

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
 *
 * Each message is handled in a `process <topic>` span that continues the producer's trace (from
 * its `traceparent` header). Lag is measured against the high-water mark of each fetch: it falls
 * as a batch is worked through and grows when fetches bring more than the handler gets through.
 */
export async function startConsumer(kafka: Kafka, opts: ConsumerOptions): Promise<ConsumerHandle> {
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    // A third of the session timeout, as Kafka's own clients do.
    heartbeatInterval: Math.max(1000, Math.floor((opts.sessionTimeoutMs ?? 10_000) / 3)),
    maxWaitTimeInMs: opts.maxWaitMs ?? 2000,
  });
  const registry = opts.metrics ?? registryOf(kafka);
  const metrics = registry ? kafkaMetrics(registry) : undefined;
  const group = opts.groupId;
  /** Partitions this member has reported lag for, as `topic\0partition`. */
  const reported = new Set<string>();
  const setLag = (topic: string, partition: number, lag: bigint) => {
    if (!metrics) return;
    reported.add(`${topic}\0${partition}`);
    metrics.lag.set({ topic, partition: String(partition), group }, Number(lag > 0n ? lag : 0n));
  };
  /** After a rebalance, another member reports the partitions this one lost. */
  const forgetLag = (keep: (topic: string, partition: number) => boolean) => {
    for (const key of reported) {
      const [topic, p] = key.split('\0') as [string, string];
      if (keep(topic, Number(p))) continue;
      metrics?.lag.remove({ topic, partition: p, group });
      reported.delete(key);
    }
  };

  let running = false;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    running = true;
    const assigned = e.payload.memberAssignment;
    forgetLag((topic, partition) => assigned[topic]?.includes(partition) ?? false);
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

  if (!opts.handle === !opts.handleBatch) throw new Error('startConsumer needs exactly one of handle and handleBatch');
  const inSpan: InMessageSpan = (m, fn) => inProcessSpan(m.headers, { ...m, groupId: group }, fn);

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
        done = undefined;
        sinceCommit = 0;
      };
      const high = BigInt(batch.highWatermark);
      const first = batch.messages[0];
      if (first) setLag(batch.topic, batch.partition, high - BigInt(first.offset));
      try {
        if (opts.handleBatch) {
          for (let i = 0; i < batch.messages.length && isRunning() && !isStale(); i += commitEvery) {
            const chunk = batch.messages.slice(i, i + commitEvery);
            await opts.handleBatch(
              chunk.map((m) => toConsumed(batch.topic, batch.partition, m)),
              inSpan,
            );
            const last = chunk[chunk.length - 1]!.offset;
            resolveOffset(last);
            done = last;
            metrics?.consumed.inc({ topic: batch.topic, group }, chunk.length);
            setLag(batch.topic, batch.partition, high - BigInt(last) - 1n);
            await commit();
            await heartbeat();
          }
          return;
        }
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) break;
          const consumed = toConsumed(batch.topic, batch.partition, message);
          await inSpan(consumed, () => opts.handle!(consumed));
          resolveOffset(message.offset);
          done = message.offset;
          metrics?.consumed.inc({ topic: batch.topic, group });
          setLag(batch.topic, batch.partition, high - BigInt(message.offset) - 1n);
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
      forgetLag(() => false);
    },
  };
}
