import { isDuplicateKey } from '@taskmesh/mongo';
import type { Log } from '@taskmesh/kafka';
import { watchChanges, type ChangeWatch } from '@taskmesh/outbox';
import type { Collection, Document, IndexDescription } from 'mongodb';

/**
 * One marker per owner who ever wrote a task (collection `outbox_owners`, `_id` = ownerId).
 *
 * The relay must find owners with pending events without ever querying `tasks` untargeted, so
 * every task write first touches its owner's marker here and only then writes the task: a
 * marker is always at least as fresh as the events it points to, and a crash in between leaves
 * at worst a marker with nothing behind it. The same atomic `$inc` hands out the owner's event
 * sequence numbers (the publish order across the owner's tasks) and the marker carries the
 * relay's lease, so one relay at a time publishes an owner's events.
 */
export interface OwnerMarker {
  _id: string;
  /** Last sequence number handed out; never reset, since markers are parked, not deleted. */
  seq: number;
  /** When a writer last touched the marker. */
  touchedAt: Date;
  /** When the relay should look at this owner next; null once parked (nothing pending). */
  nextRunAt: Date | null;
  leaseUntil: Date;
  leaseHolder: string | null;
  /** Task documents with a pending event, as of the relay's last look (writers raise it to ≥ 1). */
  pendingDocs: number;
}

const EPOCH = new Date(0);
/** Later than any real `nextRunAt`: a range bound that selects every unparked marker. */
const FAR_FUTURE = new Date(8.64e15);

export class OutboxOwners {
  static readonly indexes: IndexDescription[] = [{ key: { nextRunAt: 1 }, name: 'due' }];

  constructor(private readonly markers: Collection<OwnerMarker>) {}

  /**
   * Reserves the owner's next event sequence number and asks the relay to look at the owner.
   * Must complete before the task write that stores the event.
   */
  async touch(ownerId: string): Promise<{ seq: number; at: number }> {
    const at = Date.now();
    const now = new Date(at);
    for (let attempt = 1; ; attempt++) {
      try {
        const marker = await this.markers.findOneAndUpdate(
          { _id: ownerId },
          {
            $inc: { seq: 1 },
            $set: { touchedAt: now, nextRunAt: now },
            $max: { pendingDocs: 1 },
            $setOnInsert: { leaseUntil: EPOCH, leaseHolder: null },
          },
          { upsert: true, returnDocument: 'after', projection: { seq: 1 } },
        );
        // MongoDB always returns the document of an upsert asked for 'after'. The local store
        // (secantusd-rs 0.5.3) sometimes returns none when two upserts of a new _id race (about 2 in
        // 100 in a five-way race): retried like the duplicate key below. A retry at worst skips a
        // sequence number, and the relay only needs them increasing.
        if (!marker) {
          if (attempt < 3) continue;
          throw new Error('the outbox marker upsert returned no document');
        }
        return { seq: marker.seq, at };
      } catch (err) {
        // The first two writes of a new owner can race on the upsert; the loser simply retries.
        if (isDuplicateKey(err) && attempt < 3) continue;
        throw err;
      }
    }
  }

  /**
   * After a task write that took longer than the relay's settle time: the relay may have parked
   * the marker in the meantime, so it is touched again to make sure the new event is seen.
   */
  async retouch(ownerId: string): Promise<void> {
    const now = new Date();
    await this.markers.updateOne({ _id: ownerId }, { $set: { touchedAt: now, nextRunAt: now }, $max: { pendingDocs: 1 } });
  }

  /** Owners whose turn it is and whom no relay holds, oldest first. */
  async due(now: Date, limit: number): Promise<string[]> {
    const docs = await this.markers
      .find({ nextRunAt: { $lte: now }, leaseUntil: { $lte: now } }, { projection: { _id: 1 } })
      .sort({ nextRunAt: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => d._id);
  }

  /** Takes the owner for `leaseMs`, or returns undefined when another relay was quicker. */
  async claim(ownerId: string, holder: string, now: Date, leaseMs: number): Promise<OwnerMarker | undefined> {
    const marker = await this.markers.findOneAndUpdate(
      { _id: ownerId, nextRunAt: { $lte: now }, leaseUntil: { $lte: now } },
      { $set: { leaseUntil: new Date(now.getTime() + leaseMs), leaseHolder: holder } },
      { returnDocument: 'after' },
    );
    return marker ?? undefined;
  }

  /**
   * Publishing failed: record what is pending (when known) and let any relay retry after its
   * back-off. `nextRunAt` moves to now so that, with more due owners than a round takes, the
   * others get their turn (and their count) too.
   */
  async releaseFailed(marker: OwnerMarker, holder: string, pendingDocs?: number): Promise<void> {
    await this.markers.updateOne(
      { _id: marker._id, leaseHolder: holder },
      { $set: { leaseUntil: EPOCH, leaseHolder: null, nextRunAt: new Date(), ...(pendingDocs === undefined ? {} : { pendingDocs }) } },
    );
  }

  /**
   * Everything that was pending is out, for each owner of a round, in two bulk writes. If no writer
   * touched a marker since it was claimed, the owner is parked (nothing seen, and the last touch
   * is older than the settle time, so no write can still be in flight) or rechecked once the
   * settle time has passed. If a writer did touch it, its `nextRunAt` stands and only the lease is
   * given back.
   */
  async releaseDone(
    done: readonly { marker: OwnerMarker; sawNothing: boolean; scanStart: Date; more: boolean }[],
    holder: string,
    settleMs: number,
  ): Promise<void> {
    if (done.length === 0) return;
    const now = Date.now();
    await this.markers.bulkWrite(
      done.map(({ marker, sawNothing, scanStart, more }) => {
        const settledAt = marker.touchedAt.getTime() + settleMs;
        const park = sawNothing && settledAt <= scanStart.getTime();
        const nextRunAt = more ? new Date(now) : park ? null : new Date(Math.max(settledAt, now));
        return {
          updateOne: {
            filter: { _id: marker._id, leaseHolder: holder, touchedAt: marker.touchedAt },
            update: { $set: { leaseUntil: EPOCH, leaseHolder: null, pendingDocs: more ? 1 : 0, nextRunAt } },
          },
        };
      }),
      { ordered: false },
    );
    // Markers a writer touched meanwhile still carry this lease (the first write did not match):
    // only the lease is given back, their nextRunAt stands.
    await this.markers.bulkWrite(
      done.map(({ marker }) => ({
        updateOne: { filter: { _id: marker._id, leaseHolder: holder }, update: { $set: { leaseUntil: EPOCH, leaseHolder: null } } },
      })),
      { ordered: false },
    );
  }

  /**
   * Calls `onChange` whenever a writer touches a marker (in any process): an insert, or an update
   * that sets `touchedAt`, which only writers do; the relay's own lease updates do not wake it.
   */
  watchTouches(onChange: () => void, log: Log): ChangeWatch {
    return watchChanges(
      this.markers as unknown as Collection<Document>,
      [
        {
          $match: {
            $or: [{ operationType: 'insert' }, { operationType: 'update', 'updateDescription.updatedFields.touchedAt': { $exists: true } }],
          },
        },
      ],
      { onChange, log },
    );
  }

  /** Task documents with a pending event, summed over the owners not parked. */
  async backlog(): Promise<number> {
    const [row] = await this.markers
      .aggregate<{ n: number }>([{ $match: { nextRunAt: { $lte: FAR_FUTURE } } }, { $group: { _id: null, n: { $sum: '$pendingDocs' } } }])
      .toArray();
    return row?.n ?? 0;
  }
}
