import { TOPICS } from '@taskmesh/events';
import { ensureTopics, type EventProducer, type Kafka, type Log } from '@taskmesh/kafka';
import type { AuthMetrics } from '../metrics.js';
import type { UserDoc, UserRepository } from '../users/user-repository.js';

export interface PublisherOptions {
  readonly kafka: Kafka;
  readonly producer: EventProducer;
  readonly users: UserRepository;
  readonly metrics: AuthMetrics;
  readonly log: Log;
  /** Time between two relay sweeps. */
  readonly intervalMs: number;
  /** Events younger than this are left to the request that wrote them. */
  readonly graceMs: number;
  /** Users per sweep. @default 100 */
  readonly batchSize?: number;
}

/** Upper bound on waiting for in-flight publishes at shutdown; the relay sends what is left later. */
const CLOSE_WAIT_MS = 5000;

/**
 * Publishes the events stored in user documents (the outbox) to Kafka, keyed by user id, and
 * clears them once acknowledged. A registration publishes at once, without holding up its
 * answer; a periodic sweep (the relay) sends whatever that left behind: Kafka down, a crash
 * between insert and send. Delivery is at least once: consumers deduplicate by event id.
 */
export class UserEventPublisher {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private topicReady = false;
  private stopped = false;

  constructor(private readonly opts: PublisherOptions) {}

  /** Creates the topic if it is missing; failure is logged and retried by the next sweep. */
  async ensureTopic(): Promise<void> {
    if (this.topicReady) return;
    await ensureTopics(this.opts.kafka, [{ topic: TOPICS.userEvents }]);
    this.topicReady = true;
  }

  /** Starts the relay; the first sweep runs right away. */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Publishes one user's pending events in the background. */
  publishSoon(user: UserDoc): void {
    const p = this.publish(user).catch((err: unknown) => {
      this.opts.log.warn({ err, userId: user._id }, 'event not published yet; the relay will retry');
    });
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** One relay pass; returns how many users' events were published. */
  async sweep(now: Date = new Date()): Promise<number> {
    const { users, metrics, graceMs, batchSize = 100 } = this.opts;
    let published = 0;
    const pending = await users.pendingEvents(new Date(now.getTime() - graceMs), batchSize);
    for (const user of pending) {
      if (this.stopped) break;
      await this.publish(user);
      published++;
    }
    metrics.outboxBacklog.set(await users.countPendingEvents());
    return published;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const wait = Promise.allSettled([this.sweeping, ...this.inflight]);
    await Promise.race([wait, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
  }

  private async publish(user: UserDoc): Promise<void> {
    const events = user.outbox ?? [];
    if (events.length === 0) return;
    await this.ensureTopic();
    await this.opts.producer.send(
      TOPICS.userEvents,
      events.map((event) => ({
        key: event.key,
        value: event,
        headers: { ...user.outboxHeaders, 'event-type': event.type, 'event-id': event.id },
      })),
    );
    this.opts.metrics.outboxPublished.inc(events.length);
    await this.opts.users.clearOutbox(user);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sweeping = this.sweep()
        .then(() => undefined)
        .catch((err: unknown) => this.opts.log.warn({ err }, 'outbox sweep failed; retrying'))
        .finally(() => {
          this.sweeping = undefined;
          this.schedule(this.opts.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
