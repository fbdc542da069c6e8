import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_SCHEMAS, decodeEvent, type DomainEvent } from '@taskmesh/events';
import type { ConsumedMessage, EventProducer, Log } from '@taskmesh/kafka';
import { isTransientMongoError } from '@taskmesh/mongo';
import { effectOf } from '../domain/stats/effects.js';
import { GlobalWritePendingError, type ApplyOutcome, type BatchItem, type StatsRepository } from '../domain/stats/stats-repository.js';
import { sendToDeadLetters, type DeadLetterCause } from './dead-letters.js';
import type { ConsumerMetrics } from './metrics.js';

/**
 * Seams around the store write, for tests that need a write to fail or the process to die right
 * after it (before the offset is committed). Production code passes none.
 */
export interface ProcessingHooks {
  beforeApply?(event: DomainEvent, message: ConsumedMessage): void | Promise<void>;
  afterApply?(event: DomainEvent, outcome: ApplyOutcome, message: ConsumedMessage): void | Promise<void>;
}

export interface MessageHandlerOptions {
  readonly stats: StatsRepository;
  readonly producer: EventProducer;
  readonly metrics: ConsumerMetrics;
  readonly log: Log;
  readonly groupId: string;
  readonly deadLetterTopic: string;
  /** @default 3 */
  readonly maxAttempts?: number;
  /** Pause before the second attempt; doubled for each further one. @default 100 */
  readonly retryDelayMs?: number;
  readonly hooks?: ProcessingHooks;
}

const KNOWN_TYPES = new Set(Object.keys(EVENT_SCHEMAS));

/** A label value from a message's claimed type, without letting arbitrary strings into the label set. */
function typeLabel(value: Buffer | null): string {
  try {
    const type = (JSON.parse(value?.toString('utf8') ?? '') as { type?: unknown })?.type;
    return typeof type === 'string' && KNOWN_TYPES.has(type) ? type : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The per-message step of the consumer: validate, apply at most once, or dead-letter.
 *
 * - A message invalid against its contract goes to the dead-letter topic at once: retrying
 *   cannot make it valid.
 * - A valid event whose processing throws is tried `maxAttempts` times, then dead-lettered, so
 *   one poison message cannot stall its partition.
 * - An unreachable store is not the event's fault: the error propagates, nothing is committed,
 *   and the consumer takes the same message again once the store is back. So does a failed
 *   global write after a stored user write: only this message's redelivery can complete it.
 *
 * Resolving means the effect (or the dead letter) is stored; only then is the offset committed.
 */
export function createMessageHandler(opts: MessageHandlerOptions): (message: ConsumedMessage) => Promise<void> {
  const maxAttempts = opts.maxAttempts ?? 3;
  const retryDelayMs = opts.retryDelayMs ?? 100;
  const { metrics, log } = opts;

  const deadLetter = async (message: ConsumedMessage, type: string, cause: DeadLetterCause, startedAt: number) => {
    await sendToDeadLetters(opts.producer, opts.deadLetterTopic, opts.groupId, message, cause);
    metrics.deadLetters.inc({ kind: cause.kind });
    metrics.processed.inc({ type, outcome: 'dead_lettered' });
    metrics.processing.observe({ type }, (performance.now() - startedAt) / 1000);
    log.warn(
      { topic: message.topic, partition: message.partition, offset: message.offset, kind: cause.kind, reason: cause.reason },
      'message sent to the dead-letter topic',
    );
  };

  return async (message) => {
    const startedAt = performance.now();
    const decoded = decodeEvent(message.value);
    if (!decoded.ok) {
      await deadLetter(message, typeLabel(message.value), { kind: 'invalid', reason: decoded.reason, attempts: 0 }, startedAt);
      return;
    }
    const event = decoded.event;
    const effect = effectOf(event);
    if (!effect.ok) {
      await deadLetter(message, event.type, { kind: 'invalid', reason: effect.reason, attempts: 0 }, startedAt);
      return;
    }

    const at = { topic: message.topic, partition: message.partition, offset: message.offset };
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        await opts.hooks?.beforeApply?.(event, message);
        const outcome = await opts.stats.apply(event.id, effect.effect, at);
        await opts.hooks?.afterApply?.(event, outcome, message);
        if (outcome !== 'applied') metrics.dedupHits.inc();
        metrics.processed.inc({ type: event.type, outcome });
        metrics.processing.observe({ type: event.type }, (performance.now() - startedAt) / 1000);
        return;
      } catch (err) {
        metrics.processed.inc({ type: event.type, outcome: 'error' });
        if (isTransientMongoError(err) || err instanceof GlobalWritePendingError) {
          log.warn({ err, eventId: event.id }, 'statistics store unavailable; the message will be taken again');
          throw err;
        }
        lastError = err;
        log.warn({ err, eventId: event.id, type: event.type, attempt, maxAttempts }, 'processing an event failed');
        if (attempt < maxAttempts) await sleep(retryDelayMs * 2 ** (attempt - 1));
      }
    }
    const reason = `failed ${maxAttempts} times: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
    await deadLetter(message, event.type, { kind: 'failed', reason, attempts: maxAttempts }, startedAt);
  };
}

/** Runs work in a message's trace span (the consumer's `inSpan`). */
export type InMessageSpan = <T>(message: ConsumedMessage, fn: () => Promise<T>) => Promise<T>;

/**
 * The micro-batch step of the consumer: the messages of one partition that one fetch brought, up
 * to the commit interval, applied with one store write per user and one global write
 * ({@link StatsRepository.applyBatch}) instead of two round trips per event, with the same
 * exactly-once effect. A message that does not decode, or a batch that fails for any reason but
 * an unreachable store, is handled message by message by {@link createMessageHandler}, with its
 * retries and dead letters: every write is conditional, so what the batch already stored is not
 * stored twice.
 */
export function createBatchHandler(
  opts: MessageHandlerOptions,
): (messages: readonly ConsumedMessage[], inSpan: InMessageSpan) => Promise<void> {
  const single = createMessageHandler(opts);
  const { metrics, log } = opts;
  return async (messages, inSpan) => {
    const startedAt = performance.now();
    const items: (BatchItem & { message: ConsumedMessage; event: DomainEvent })[] = [];
    for (const message of messages) {
      const decoded = decodeEvent(message.value);
      const effect = decoded.ok ? effectOf(decoded.event) : undefined;
      if (!decoded.ok || !effect?.ok) {
        await inSpan(message, () => single(message));
        continue;
      }
      const at = { topic: message.topic, partition: message.partition, offset: message.offset };
      items.push({ eventId: decoded.event.id, effect: effect.effect, at, message, event: decoded.event });
    }
    if (items.length === 0) return;
    let outcomes: ApplyOutcome[];
    try {
      for (const item of items) await opts.hooks?.beforeApply?.(item.event, item.message);
      outcomes = await opts.stats.applyBatch(items, (item, fn) => inSpan((item as (typeof items)[number]).message, fn));
      for (const [i, item] of items.entries()) await opts.hooks?.afterApply?.(item.event, outcomes[i]!, item.message);
    } catch (err) {
      if (isTransientMongoError(err) || err instanceof GlobalWritePendingError) {
        for (const item of items) metrics.processed.inc({ type: item.event.type, outcome: 'error' });
        log.warn({ err, messages: messages.length }, 'statistics store unavailable; the messages will be taken again');
        throw err;
      }
      // Counted as errors there, attempt by attempt.
      log.warn({ err, messages: messages.length }, 'a micro-batch failed; its messages are handled one at a time');
      for (const item of items) await inSpan(item.message, () => single(item.message));
      return;
    }
    const seconds = (performance.now() - startedAt) / 1000;
    for (const [i, item] of items.entries()) {
      const outcome = outcomes[i]!;
      if (outcome !== 'applied') metrics.dedupHits.inc();
      metrics.processed.inc({ type: item.event.type, outcome });
      metrics.processing.observe({ type: item.event.type }, seconds);
    }
  };
}
