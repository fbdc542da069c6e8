import type { Log } from '@taskmesh/kafka';
import type { OutboxMessage, Publisher } from './publisher.js';
import type { ChangeWatch } from './watch.js';

/** One claimed unit of work (an owner, a user): its messages in the order they must leave. */
export interface OutboxWork {
  readonly messages: readonly OutboxMessage[];
  /** Not all of the unit's pending messages fit in this round: run the next round at once. */
  readonly more?: boolean;
}

/**
 * What a service stores: where its pending events live, how a relay claims them, and how the
 * acknowledged ones are removed. The relay does the rest.
 */
export interface OutboxStore<W extends OutboxWork> {
  /** Claims due work for this relay, `maxMessages` messages in all at most; [] when nothing is due. */
  claim(maxMessages: number): Promise<W[]>;
  /** Kafka acknowledged every message of `work`: remove exactly those, in bulk, and give the claims back. */
  acknowledge(work: readonly W[]): Promise<void>;
  /** Publishing failed or the round broke off: give the claims back so that a later round retries. */
  release(work: readonly W[]): Promise<void>;
}

export interface RelaySettings {
  /** Between two looks when nothing wakes the relay (no change stream). */
  readonly pollMs: number;
  /**
   * Between two looks while a change stream wakes the relay: only a safety net for what no
   * writer announces (expired leases of a relay that died, re-checks a store asked for).
   * @default pollMs
   */
  readonly watchPollMs?: number;
  /** Longest wait between retries after failures (doubling from `pollMs`). */
  readonly maxBackoffMs: number;
  /** Messages per round at most, so that one send stays well under Kafka's request size. @default 500 */
  readonly maxMessagesPerRound?: number;
  /** Longest wait at `stop` for the sends in progress. @default 5000 */
  readonly closeWaitMs?: number;
}

export interface RelayHooks {
  onPublished?(count: number): void;
  onFailure?(err: unknown): void;
}

export type RoundOutcome = 'idle' | 'worked' | 'busy' | 'failed';

export interface RelayOptions<W extends OutboxWork> {
  readonly store: OutboxStore<W>;
  readonly publisher: Publisher;
  readonly settings: RelaySettings;
  readonly log: Log;
  readonly hooks?: RelayHooks;
  /**
   * Opens a watch that calls `onChange` when a writer in any process may have stored work (a
   * change stream from `watchChanges`); without one the relay polls every `pollMs`.
   */
  readonly changes?: (onChange: () => void) => ChangeWatch;
}

/**
 * Publishes the events a service stores next to its data (the transactional outbox), then
 * removes them.
 *
 * Each round claims due work from the store, sends all of its messages in one request (each
 * unit's messages in order, so one key's events keep their order on its partition), and only
 * after Kafka acknowledged them lets the store remove exactly those. A crash between the send and
 * the removal sends the same events again: delivery is at least once, never lost. Failures back
 * off (doubling, up to `maxBackoffMs`); the publisher makes a fresh producer after each. Rounds
 * follow one another while there is more; otherwise the relay sleeps until a writer wakes it
 * (in-process with {@link wake}, from other processes through the store's change stream) or the
 * poll interval passes.
 */
export class OutboxRelay<W extends OutboxWork> {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private backoffMs = 0;
  private watch: ChangeWatch | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly maxMessages: number;
  private readonly store: OutboxStore<W>;
  private readonly publisher: Publisher;
  private readonly settings: RelaySettings;
  private readonly log: Log;
  private readonly hooks: RelayHooks;

  constructor(private readonly opts: RelayOptions<W>) {
    ({ store: this.store, publisher: this.publisher, settings: this.settings, log: this.log } = opts);
    this.hooks = opts.hooks ?? {};
    this.maxMessages = opts.settings.maxMessagesPerRound ?? 500;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.watch = this.opts.changes?.(() => this.wake());
    this.loop = this.run();
  }

  /**
   * Lets the round and publishes in progress finish (waiting `closeWaitMs` at most: a send to a
   * dead broker can retry for long), then stops; pending events stay stored for the next start.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.watch?.close();
    this.watch = undefined;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.closeWaitMs ?? 5000);
    });
    await Promise.race([Promise.allSettled([this.loop, ...this.inflight]), bound]);
    clearTimeout(timer);
    await this.publisher.close();
  }

  /** A write just stored an event: look now rather than at the next poll (not while backing off). */
  wake(): void {
    this.woken = true;
    if (this.backoffMs === 0) this.wakeUp?.();
  }

  /**
   * Publishes work the caller already holds (a request that just stored an event), outside the
   * rounds; a failure leaves it stored for a round to retry.
   */
  async publishNow(work: readonly W[]): Promise<void> {
    const p = this.deliver(work).then(() => undefined);
    this.inflight.add(p);
    try {
      await p;
    } finally {
      this.inflight.delete(p);
    }
  }

  /** One round: claim, publish, remove. */
  async round(): Promise<RoundOutcome> {
    const work = await this.store.claim(this.maxMessages);
    if (work.length === 0) return 'idle';
    let published: boolean;
    try {
      published = await this.deliver(work);
    } catch (err) {
      // The store failed mid-round: give the claims back rather than leave this work waiting for
      // them to expire (best effort; with the store gone they expire anyway).
      await this.store.release(work).catch(() => undefined);
      throw err;
    }
    if (!published) return 'failed';
    return work.some((w) => w.more) ? 'busy' : 'worked';
  }

  /** Sends the work's messages; false (after releasing the work) when Kafka failed. */
  private async deliver(work: readonly W[]): Promise<boolean> {
    const messages = work.flatMap((w) => w.messages);
    try {
      await this.publisher.publish(messages);
    } catch (err) {
      this.log.warn({ err, events: messages.length, units: work.length }, 'publishing events failed; they stay stored and are retried');
      this.hooks.onFailure?.(err);
      await this.store.release(work);
      return false;
    }
    if (messages.length > 0) this.hooks.onPublished?.(messages.length);
    await this.store.acknowledge(work);
    return true;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let outcome: RoundOutcome;
      try {
        outcome = await this.round();
      } catch (err) {
        // The store unreachable, most likely: the same back-off as a Kafka failure.
        this.log.warn({ err }, 'outbox relay round failed');
        this.hooks.onFailure?.(err);
        outcome = 'failed';
      }
      if (outcome === 'failed') {
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, this.settings.pollMs), this.settings.maxBackoffMs);
      } else {
        this.backoffMs = 0;
      }
      if (outcome === 'busy' || (outcome === 'worked' && this.woken)) {
        this.woken = false;
        continue;
      }
      const idleMs = this.watch?.active ? (this.settings.watchPollMs ?? this.settings.pollMs) : this.settings.pollMs;
      await this.sleep(outcome === 'failed' ? this.backoffMs : idleMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (this.woken && this.backoffMs === 0) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeUp = () => {
        this.woken = false;
        finish();
      };
    });
  }
}
