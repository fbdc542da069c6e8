import { randomUUID } from 'node:crypto';
import { decodeHeaders, type ConsumedMessage, type EventProducer, type Kafka } from '@taskmesh/kafka';

/** Headers a dead letter carries on top of the original message's own. */
export const DLQ_HEADERS = {
  reason: 'x-dead-letter-reason',
  /** `invalid` (against its contract: retrying cannot help) or `failed` (processing threw every attempt). */
  kind: 'x-dead-letter-kind',
  attempts: 'x-dead-letter-attempts',
  group: 'x-dead-letter-group',
  at: 'x-dead-letter-at',
  originalTopic: 'x-original-topic',
  originalPartition: 'x-original-partition',
  originalOffset: 'x-original-offset',
  originalTimestamp: 'x-original-timestamp',
} as const;

/** Set on a replayed message: the dead letter it came from, `<topic>/<partition>/<offset>`. */
export const REPLAYED_FROM_HEADER = 'x-replayed-from';

export type DeadLetterKind = 'invalid' | 'failed';

export interface DeadLetterCause {
  readonly kind: DeadLetterKind;
  readonly reason: string;
  readonly attempts: number;
}

/**
 * Sends a message to the dead-letter topic unchanged (key, value, headers) with the reason and
 * where it came from in its headers, so that it can be inspected and replayed as it was.
 */
export async function sendToDeadLetters(
  producer: EventProducer,
  topic: string,
  groupId: string,
  message: ConsumedMessage,
  cause: DeadLetterCause,
): Promise<void> {
  const headers: Record<string, string> = {
    ...message.headers,
    // Header values are free text to Kafka but end up in terminals and log lines.
    [DLQ_HEADERS.reason]: cause.reason.replace(/[\r\n]+/g, ' ').slice(0, 1000),
    [DLQ_HEADERS.kind]: cause.kind,
    [DLQ_HEADERS.attempts]: String(cause.attempts),
    [DLQ_HEADERS.group]: groupId,
    [DLQ_HEADERS.at]: new Date().toISOString(),
    [DLQ_HEADERS.originalTopic]: message.topic,
    [DLQ_HEADERS.originalPartition]: String(message.partition),
    [DLQ_HEADERS.originalOffset]: message.offset,
    [DLQ_HEADERS.originalTimestamp]: String(message.timestamp),
  };
  await producer.send(topic, [{ key: message.key ?? '', value: message.value ?? '', headers }]);
}

/** A message on the dead-letter topic, as the command-line tool shows it. */
export interface DeadLetter {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
  readonly reason: string;
  readonly kind: string;
  readonly attempts: number;
  readonly originalTopic: string;
  readonly originalPartition: number;
  readonly originalOffset: string;
  readonly deadLetteredAt: string;
  /** The envelope's id and type when the value is JSON that has them. */
  readonly eventId?: string;
  readonly eventType?: string;
}

function toDeadLetter(
  partition: number,
  offset: string,
  key: Buffer | null,
  value: Buffer | null,
  headers: Record<string, string>,
): DeadLetter {
  let eventId: string | undefined;
  let eventType: string | undefined;
  try {
    const parsed = JSON.parse(value?.toString('utf8') ?? '') as { id?: unknown; type?: unknown };
    if (typeof parsed?.id === 'string') eventId = parsed.id;
    if (typeof parsed?.type === 'string') eventType = parsed.type;
  } catch {
    // Not JSON: shown without an id; it can still be replayed by position.
  }
  return {
    partition,
    offset,
    key: key ? key.toString('utf8') : null,
    value,
    headers,
    reason: headers[DLQ_HEADERS.reason] ?? '',
    kind: headers[DLQ_HEADERS.kind] ?? '',
    attempts: Number(headers[DLQ_HEADERS.attempts] ?? 0),
    originalTopic: headers[DLQ_HEADERS.originalTopic] ?? '',
    originalPartition: Number(headers[DLQ_HEADERS.originalPartition] ?? -1),
    originalOffset: headers[DLQ_HEADERS.originalOffset] ?? '',
    deadLetteredAt: headers[DLQ_HEADERS.at] ?? '',
    ...(eventId ? { eventId } : {}),
    ...(eventType ? { eventType } : {}),
  };
}

export interface ReadOptions {
  /** Give up waiting for the broker after this long. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * Reads every message on the dead-letter topic up to its current end, without committing
 * anything: a throwaway group that never commits leaves no trace beyond its expiry.
 */
export async function readDeadLetters(kafka: Kafka, topic: string, opts: ReadOptions = {}): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; low: string; high: string }[];
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`there is no topic ${topic} (the service creates it when it starts)`);
    ends = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
  } finally {
    await admin.disconnect();
  }
  const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  if (pending.size === 0) return [];

  const out: DeadLetter[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = pending.get(partition);
        if (end === undefined) return;
        if (BigInt(message.offset) < end)
          out.push(toDeadLetter(partition, message.offset, message.key, message.value, decodeHeaders(message.headers)));
        if (BigInt(message.offset) + 1n >= end) {
          pending.delete(partition);
          if (pending.size === 0) finish();
        }
      },
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the dead-letter topic ${topic} was not read to its end within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([finished, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

/** Which dead letters to replay: all, or those matching an event id or a `<partition>:<offset>`. */
export interface ReplaySelection {
  readonly all?: boolean;
  readonly eventIds?: readonly string[];
  readonly positions?: readonly string[];
}

export function selects(selection: ReplaySelection, letter: DeadLetter): boolean {
  if (selection.all) return true;
  if (letter.eventId && selection.eventIds?.includes(letter.eventId)) return true;
  return selection.positions?.includes(`${letter.partition}:${letter.offset}`) ?? false;
}

/**
 * Publishes the selected dead letters to the group's retry topic, which the service consumes
 * alongside its source topics. Headers are restored to the original's, plus where the replay
 * came from. Replaying twice is harmless: the second copy is recognised by its event id.
 */
export async function replayDeadLetters(
  kafka: Kafka,
  producer: EventProducer,
  topics: { readonly deadLetters: string; readonly retry: string },
  selection: ReplaySelection,
  opts: ReadOptions = {},
): Promise<DeadLetter[]> {
  const chosen = (await readDeadLetters(kafka, topics.deadLetters, opts)).filter((l) => selects(selection, l));
  const own = new Set<string>(Object.values(DLQ_HEADERS));
  await producer.send(
    topics.retry,
    chosen.map((l) => ({
      key: l.key ?? '',
      value: l.value ?? '',
      headers: {
        ...Object.fromEntries(Object.entries(l.headers).filter(([k]) => !own.has(k))),
        [REPLAYED_FROM_HEADER]: `${topics.deadLetters}/${l.partition}/${l.offset}`,
      },
    })),
  );
  return chosen;
}
