import type { Log } from '@taskmesh/kafka';
import type { Collection, ObjectId } from 'mongodb';
import type { PendingEvent, TaskDocument } from '../tasks/task-document.js';
import type { OutboxOwners, OwnerMarker } from './outbox-owners.js';

/** The publishing side, so that the relay can be driven with any transport. */
export interface Publisher {
  publish(events: readonly PendingEvent[]): Promise<void>;
  close(): Promise<void>;
}

export interface RelaySettings {
  /** Identifies this relay in leases. */
  readonly holder: string;
  readonly pollMs: number;
  readonly leaseMs: number;
  readonly settleMs: number;
  readonly batchOwners: number;
  readonly maxBackoffMs: number;
  /** Events sent per round at most, so one send stays well under Kafka's request size. @default 500 */
  readonly maxEventsPerRound?: number;
}

export interface RelayHooks {
  onPublished?(count: number): void;
  onFailure?(err: unknown): void;
}

type PendingDoc = Pick<TaskDocument, '_id' | 'deletedAt' | 'outbox'>;

interface OwnerWork {
  readonly marker: OwnerMarker;
  readonly docs: PendingDoc[];
  /** This round's share of the owner's events, in publish order. */
  readonly events: { doc: PendingDoc; entry: PendingEvent }[];
  /** Not all pending events fit in this round. */
  readonly more: boolean;
}

type RoundOutcome = 'idle' | 'worked' | 'busy' | 'failed';

/**
 * Publishes the events that task writes leave in their documents, then removes them.
 *
 * Each round claims due owners (a lease on their marker, so that across pods only one relay
 * handles an owner at a time), reads each owner's pending documents with targeted queries,
 * orders the owner's events (each document's own order, and across documents by the owner's
 * sequence numbers), sends them all in one request with the owner as the message key, and only
 * after Kafka acknowledged them removes exactly those entries (`$pullAll`) or, for a deleted
 * task whose last event is out, the tombstone. A crash after the send and before the removal
 * sends the same events again: delivery is at least once, never lost, and in order per owner.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private backoffMs = 0;
  private readonly maxEvents: number;

  constructor(
    private readonly tasks: Collection<TaskDocument>,
    private readonly owners: OutboxOwners,
    private readonly publisher: Publisher,
    private readonly settings: RelaySettings,
    private readonly log: Log,
    private readonly hooks: RelayHooks = {},
  ) {
    this.maxEvents = settings.maxEventsPerRound ?? 500;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the round in progress, then stops; pending events stay stored for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await this.publisher.close();
  }

  /** A task write just stored an event: look now rather than at the next poll (not while backing off). */
  wake(): void {
    this.woken = true;
    if (this.backoffMs === 0) this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let outcome: RoundOutcome;
      try {
        outcome = await this.round();
      } catch (err) {
        // Mongo unreachable, most likely: the same back-off as a Kafka failure.
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
      await this.sleep(outcome === 'failed' ? this.backoffMs : this.settings.pollMs);
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

  /** One pass over the due owners. */
  async round(): Promise<RoundOutcome> {
    const { holder, leaseMs, batchOwners } = this.settings;
    const now = new Date();
    const due = await this.owners.due(now, batchOwners);
    if (due.length === 0) return 'idle';

    const claimed: OwnerMarker[] = [];
    for (const ownerId of due) {
      const marker = await this.owners.claim(ownerId, holder, now, leaseMs);
      if (marker) claimed.push(marker);
    }
    if (claimed.length === 0) return 'idle';
    try {
      return await this.relay(claimed);
    } catch (err) {
      // The database failed mid-round: give the leases back rather than leave these owners waiting
      // for them to expire (best effort; with the database gone they expire anyway).
      await Promise.allSettled(claimed.map((m) => this.owners.releaseFailed(m, holder)));
      throw err;
    }
  }

  private async relay(claimed: readonly OwnerMarker[]): Promise<RoundOutcome> {
    const { holder, settleMs } = this.settings;
    const scanStart = new Date();
    const work: OwnerWork[] = [];
    let budget = this.maxEvents;
    for (const marker of claimed) {
      const docs = await this.tasks
        .find({ ownerId: marker._id, 'outbox.seq': { $gt: 0 } }, { projection: { _id: 1, deletedAt: 1, outbox: 1 } })
        .toArray();
      const all = inPublishOrder(docs);
      const events = all.slice(0, Math.max(budget, 0));
      budget -= events.length;
      work.push({ marker, docs, events, more: events.length < all.length });
    }

    const events = work.flatMap((w) => w.events.map((e) => e.entry));
    try {
      await this.publisher.publish(events);
    } catch (err) {
      this.log.warn({ err, events: events.length, owners: work.length }, 'publishing task events failed; they stay stored and are retried');
      this.hooks.onFailure?.(err);
      for (const w of work) await this.owners.releaseFailed(w.marker, holder, w.docs.length);
      return 'failed';
    }
    if (events.length > 0) this.hooks.onPublished?.(events.length);

    for (const w of work) {
      await this.removePublished(w.marker._id, w);
      await this.owners.releaseDone(w.marker, holder, { sawNothing: w.docs.length === 0, scanStart, settleMs, more: w.more });
    }
    return work.some((w) => w.more) ? 'busy' : 'worked';
  }

  private async removePublished(ownerId: string, w: OwnerWork): Promise<void> {
    const byDoc = new Map<ObjectId, PendingEvent[]>();
    for (const { doc, entry } of w.events) byDoc.set(doc._id, [...(byDoc.get(doc._id) ?? []), entry]);
    for (const doc of w.docs) {
      const sent = byDoc.get(doc._id);
      if (!sent) continue;
      if (doc.deletedAt && sent.length === doc.outbox.length) {
        // A tombstone takes no more events, so once all of its events are out it can go.
        await this.tasks.deleteOne({ _id: doc._id, ownerId, deletedAt: { $ne: null } });
      } else {
        // $pullAll removes exactly the entries that were sent, never one appended since.
        await this.tasks.updateOne({ _id: doc._id, ownerId }, { $pullAll: { outbox: sent } });
      }
    }
  }
}

/**
 * Merges the owner's per-document queues: each document's own order is kept (it is the order of
 * its versions) and across documents the smallest sequence number goes first.
 */
export function inPublishOrder(docs: readonly PendingDoc[]): { doc: PendingDoc; entry: PendingEvent }[] {
  const heads = docs.map(() => 0);
  const out: { doc: PendingDoc; entry: PendingEvent }[] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < docs.length; i++) {
      const entry = docs[i]!.outbox[heads[i]!];
      if (entry && (best < 0 || entry.seq < docs[best]!.outbox[heads[best]!]!.seq)) best = i;
    }
    if (best < 0) return out;
    out.push({ doc: docs[best]!, entry: docs[best]!.outbox[heads[best]!]! });
    heads[best] = heads[best]! + 1;
  }
}
