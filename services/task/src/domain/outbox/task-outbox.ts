import type { OutboxMessage, OutboxStore, OutboxWork } from '@taskmesh/outbox';
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { PendingEvent, TaskDocument } from '../tasks/task-document.js';
import type { OutboxOwners, OwnerMarker } from './outbox-owners.js';

export interface TaskOutboxSettings {
  /** Identifies this relay in leases. */
  readonly holder: string;
  readonly leaseMs: number;
  readonly settleMs: number;
  /** Owners claimed per round at most. */
  readonly batchOwners: number;
}

type PendingDoc = Pick<TaskDocument, '_id' | 'deletedAt' | 'outbox'>;

/** One claimed owner: its pending documents and this round's share of its events, in publish order. */
export interface OwnerWork extends OutboxWork {
  readonly marker: OwnerMarker;
  readonly docs: PendingDoc[];
  readonly events: { doc: PendingDoc; entry: PendingEvent }[];
  readonly more: boolean;
  /** When the owner's documents were read: a write touched after this may not have been seen. */
  readonly scanStart: Date;
}

const toMessage = (p: PendingEvent): OutboxMessage => ({
  key: p.event.key,
  value: p.event,
  headers: p.headers ?? (p.traceparent ? { traceparent: p.traceparent } : {}),
});

/**
 * Where task events wait: in the task documents themselves (`outbox`), found through the owners'
 * markers, since the relay may not scan `tasks` without an owner (every query on a sharded
 * collection names its shard key).
 *
 * A claim takes due owners' leases (so across pods one relay at a time handles an owner) and
 * reads their pending documents, all owners side by side. The owner's events are merged into
 * publish order (each document's own order, and across documents the owner's sequence numbers).
 * Once Kafka acknowledged them, exactly the sent entries are removed (`$pullAll`) or, for a
 * deleted task whose last event is out, the tombstone, for every owner in one bulk write, and the
 * leases are given back in two more.
 */
export class TaskOutbox implements OutboxStore<OwnerWork> {
  constructor(
    private readonly tasks: Collection<TaskDocument>,
    private readonly owners: OutboxOwners,
    private readonly settings: TaskOutboxSettings,
  ) {}

  async claim(maxMessages: number): Promise<OwnerWork[]> {
    const { holder, leaseMs, batchOwners } = this.settings;
    const now = new Date();
    const due = await this.owners.due(now, batchOwners);
    if (due.length === 0) return [];
    const claimed = (await Promise.all(due.map((ownerId) => this.owners.claim(ownerId, holder, now, leaseMs)))).filter(
      (m): m is OwnerMarker => m !== undefined,
    );
    if (claimed.length === 0) return [];

    const scanStart = new Date();
    let pending: PendingDoc[][];
    try {
      pending = await Promise.all(
        claimed.map((marker) =>
          this.tasks.find({ ownerId: marker._id, 'outbox.seq': { $gt: 0 } }, { projection: { _id: 1, deletedAt: 1, outbox: 1 } }).toArray(),
        ),
      );
    } catch (err) {
      await Promise.allSettled(claimed.map((m) => this.owners.releaseFailed(m, holder)));
      throw err;
    }
    let budget = maxMessages;
    return claimed.map((marker, i) => {
      const docs = pending[i]!;
      const all = inPublishOrder(docs);
      const events = all.slice(0, Math.max(budget, 0));
      budget -= events.length;
      return { marker, docs, events, messages: events.map((e) => toMessage(e.entry)), more: events.length < all.length, scanStart };
    });
  }

  async acknowledge(work: readonly OwnerWork[]): Promise<void> {
    const ops: AnyBulkWriteOperation<TaskDocument>[] = [];
    for (const w of work) {
      const byDoc = new Map<PendingDoc, PendingEvent[]>();
      for (const { doc, entry } of w.events) byDoc.set(doc, [...(byDoc.get(doc) ?? []), entry]);
      const ownerId = w.marker._id;
      for (const [doc, sent] of byDoc) {
        if (doc.deletedAt && sent.length === doc.outbox.length) {
          // A tombstone takes no more events, so once all of its events are out it can go.
          ops.push({ deleteOne: { filter: { _id: doc._id, ownerId, deletedAt: { $ne: null } } } });
        } else {
          // $pullAll removes exactly the entries that were sent, never one appended since.
          ops.push({ updateOne: { filter: { _id: doc._id, ownerId }, update: { $pullAll: { outbox: sent } } } });
        }
      }
    }
    if (ops.length > 0) await this.tasks.bulkWrite(ops, { ordered: false });
    await this.owners.releaseDone(
      work.map((w) => ({ marker: w.marker, sawNothing: w.docs.length === 0, scanStart: w.scanStart, more: w.more })),
      this.settings.holder,
      this.settings.settleMs,
    );
  }

  async release(work: readonly OwnerWork[]): Promise<void> {
    await Promise.all(work.map((w) => this.owners.releaseFailed(w.marker, this.settings.holder, w.docs.length)));
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
