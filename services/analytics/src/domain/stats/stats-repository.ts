import { createHash } from 'node:crypto';
import { ensureIndexes, isDuplicateKey } from '@taskmesh/mongo';
import { Long, type Collection, type Db } from 'mongodb';
import type { OverviewStats, UserStats } from '../../schemas/analytics.js';
import { daySeries, expiredDays, isDayKept } from './days.js';
import { COUNTERS, touchesGlobal, type Counter, type Effect, type GlobalCounter } from './effects.js';
import { KeyedQueue } from './keyed-queue.js';

/**
 * Where a message was read: topic, partition and offset. The same event delivered twice from the
 * same place is a redelivery of one message; from another place, it is a second copy.
 */
export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * One user's statistics and, in the same document, the ids of the events applied to it: the
 * dedup record and the counters change in one atomic document write, so they cannot diverge.
 */
export interface UserStatsDoc {
  _id: string;
  /** The shard key in a sharded cluster (hashed), equal to `_id`. */
  userId: string;
  tasksCreated?: number;
  tasksCompleted?: number;
  tasksDeleted?: number;
  tasksOpen?: number;
  completionTimeMsTotal?: number;
  completionCount?: number;
  completedPerDay?: Record<string, number>;
  role?: string;
  registeredAt?: string;
  /** Digests ({@link eventDigest}) of the last applied events' ids, oldest first. */
  appliedIds?: string[];
  /** `<digest>@<topic digest>/<partition>/<offset>` for each entry of `appliedIds`, in the same order. */
  appliedAt?: string[];
  /** Bumped by every applied event; trimming the record is conditional on it. */
  rev?: number;
  updatedAt?: Date;
}

/**
 * The global counters' share contributed by one source partition. The overview is the sum of
 * these few documents (one per partition of the consumed topics), which keeps each global write
 * exactly once by the partition's own order: see {@link StatsRepository.applyGlobal}.
 */
export interface GlobalStatsDoc {
  /** `<topic>/<partition>`. */
  _id: string;
  /** The last offset of this partition whose effect is in these counters. */
  offset: number;
  usersRegistered?: number;
  tasksCreated?: number;
  tasksCompleted?: number;
  tasksDeleted?: number;
  tasksOpen?: number;
  completionTimeMsTotal?: number;
  completionCount?: number;
  createdPerDay?: Record<string, number>;
  completedPerDay?: Record<string, number>;
  updatedAt?: Date;
}

/**
 * `applied`: the event changed the statistics now. `redelivered`: this very message was applied
 * before (a crash or rebalance between the write and the offset commit). `duplicate`: another copy
 * of an event already applied (a producer retry, a replay).
 */
export type ApplyOutcome = 'applied' | 'redelivered' | 'duplicate';

/** One event of a micro-batch: its id, its effect and where it was read. */
export interface BatchItem {
  readonly eventId: string;
  readonly effect: Effect;
  readonly at: Position;
}

/** What `GET /analytics/me` is made of: the counters as stored, before the per-day window is applied. */
export type UserCounters = Pick<UserStatsDoc, Counter | 'completedPerDay'>;

/**
 * A cache-aside in front of the user reads (`CacheAside` of `@taskmesh/redis`): `read` never fails
 * for the cache's sake, and `invalidate` never throws.
 */
export interface UserCountersCache {
  read(userId: string, load: () => Promise<UserCounters>): Promise<UserCounters | null | undefined>;
  invalidate(userIds: Iterable<string>): Promise<void>;
}

export interface StatsRepositoryOptions {
  /** Event ids remembered per user. @default 50 */
  readonly dedupWindow?: number;
  /** Clock for the per-day window (tests). */
  readonly now?: () => Date;
  /** Where user reads look first; every user write invalidates its user there. */
  readonly cache?: UserCountersCache;
}

const USER_STATS = 'user_stats';
const GLOBAL_STATS = 'global_stats';
/** Share of the window the record may grow beyond before it is trimmed, so that trimming is rare. */
const TRIM_SLACK = 0.5;
const RACE_ATTEMPTS = 3;

/** What a user write answers with: enough to decide on tidying, not the dedup record itself. */
interface AppliedUser {
  _id: string;
  userId: string;
  rev?: number;
  completedPerDay?: Record<string, number>;
  /** Entries in `appliedIds`. */
  applied: number;
}
/**
 * The dedup record is most of a user document (two arrays of up to 1.5x the window): returned by
 * every write, it cost the store and this process more than the write itself. Its length is enough.
 */
const APPLIED_USER_PROJECTION = { userId: 1, rev: 1, completedPerDay: 1, applied: { $size: { $ifNull: ['$appliedIds', []] } } };

/**
 * Sums of milliseconds pass 2^31 quickly; `$inc` with a 64-bit operand stores them as 64-bit from
 * the first event, instead of relying on the server to widen an int32 when it overflows.
 */
const WIDE: ReadonlySet<string> = new Set(['completionTimeMsTotal']);
const operand = (name: string, v: number): number | Long => (WIDE.has(name) ? Long.fromNumber(v) : v);

const digest = (text: string, chars: number): string => createHash('sha256').update(text).digest('base64url').slice(0, chars);

/**
 * What the dedup record stores for an event id: 72 bits of its SHA-256, 12 characters instead of
 * a 36-character UUID. The record is rewritten with every event of the user, so its size is the
 * cost of each write. Two different events of one
 * user colliding within the window has a probability around window² / 2^73: never, in practice.
 */
export const eventDigest = (eventId: string): string => digest(eventId, 12);

/**
 * The user's share of an event is stored, its global share is not. Only this message's
 * redelivery can add the global share (by its offset), so the message must not be skipped or
 * dead-lettered: the consumer takes it again until the write goes through.
 */
export class GlobalWritePendingError extends Error {
  constructor(cause: unknown) {
    super(`the global statistics write failed after the user write: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'GlobalWritePendingError';
  }
}

const positionKey = (p: Position): string => `${digest(p.topic, 6)}/${p.partition}/${p.offset}`;

/**
 * The statistics store. Every event is one conditional upsert of its user's document, plus, when
 * it changes global figures, one conditional upsert of its partition's global document; nothing is
 * scanned or recomputed.
 */
export class StatsRepository {
  private readonly users: Collection<UserStatsDoc>;
  private readonly global: Collection<GlobalStatsDoc>;
  private readonly window: number;
  private readonly now: () => Date;
  /**
   * One write at a time per user document within this process. Each conditional update is atomic
   * on its own (exactly once does not depend on this queue); the queue keeps the writes of a
   * user's events, which arrive from several partitions handled side by side, from contending on
   * one document, and a new user's first two batches from racing its creation (the loser of two
   * upserts would fall back to the per-event path).
   */
  private readonly userWrites = new KeyedQueue();
  private readonly cache: UserCountersCache | undefined;

  constructor(db: Db, opts: StatsRepositoryOptions = {}) {
    this.users = db.collection<UserStatsDoc>(USER_STATS);
    this.global = db.collection<GlobalStatsDoc>(GLOBAL_STATS);
    this.window = opts.dedupWindow ?? 50;
    this.now = opts.now ?? (() => new Date());
    this.cache = opts.cache;
  }

  /** The index a sharded cluster needs for `user_stats`; a server without hashed indexes skips it. */
  async ensureIndexes(): Promise<{ created: string[]; skipped: { name: string; reason: string }[] }> {
    return ensureIndexes(this.users as unknown as Collection, [{ key: { userId: 'hashed' }, name: 'userId_hashed' }]);
  }

  /**
   * Applies an event's effect at most once, however often it is delivered.
   *
   * The user write is `{ _id, appliedIds: { $ne: digest } }` with `$inc` and `$push` of the
   * event id's digest in ONE update: either the counters change and the id is recorded, or (the id is already
   * there) nothing matches and nothing changes. When nothing matched we read the record to tell
   * a redelivery of this same message (its position is recorded too: the global write may not
   * have happened yet, so it is repeated, safely) from another copy of the event (nothing to
   * do), or from a user without a document yet (the same write as an upsert).
   */
  async apply(eventId: string, effect: Effect, at: Position): Promise<ApplyOutcome> {
    const now = this.now();
    let outcome: ApplyOutcome;
    try {
      outcome = await this.userWrites.run(effect.userId, () => this.applyUser(eventId, effect, at, now));
    } finally {
      // Whatever the outcome: a redelivery may follow a process that wrote and died before this.
      await this.cache?.invalidate([effect.userId]);
    }
    if (outcome !== 'duplicate') {
      try {
        await this.applyGlobal(effect, at, now);
      } catch (err) {
        throw new GlobalWritePendingError(err);
      }
    }
    return outcome;
  }

  /**
   * A micro-batch of events, with the guarantees of {@link apply} for each: one conditional write
   * per user for all of that user's events (none of their ids may be in the record yet, and all
   * are added in the same update), then one conditional write per source partition for the global
   * share (the document's offset must be below the first of them; it becomes the last). A user
   * whose write does not match (one of the events was applied before, or two are copies of one
   * event) and a partition whose document is already past the first offset (a redelivery) are
   * done event by event as {@link apply} does. The items of one partition must be in offset order,
   * and no user may have more of them than the dedup window holds. `around` runs each user's
   * write (it gets the user's last item), e.g. in that message's trace span.
   * @returns each item's outcome, in the items' order
   */
  async applyBatch(
    items: readonly BatchItem[],
    around: <T>(item: BatchItem, fn: () => Promise<T>) => Promise<T> = (_item, fn) => fn(),
  ): Promise<ApplyOutcome[]> {
    const now = this.now();
    const outcomes: ApplyOutcome[] = new Array(items.length);
    const byUser = new Map<string, number[]>();
    items.forEach((item, i) => {
      const list = byUser.get(item.effect.userId);
      if (list) list.push(i);
      else byUser.set(item.effect.userId, [i]);
    });
    try {
      await Promise.all(
        [...byUser].map(([userId, indexes]) =>
          around(items[indexes[indexes.length - 1]!]!, () =>
            this.userWrites.run(userId, async () => {
              if (
                await this.applyUserBatch(
                  userId,
                  indexes.map((i) => items[i]!),
                  now,
                )
              ) {
                for (const i of indexes) outcomes[i] = 'applied';
                return;
              }
              for (const i of indexes) outcomes[i] = await this.applyUser(items[i]!.eventId, items[i]!.effect, items[i]!.at, now);
            }),
          ),
        ),
      );
    } finally {
      // After the writes, even when one failed (the others went through), in one round trip.
      await this.cache?.invalidate(byUser.keys());
    }

    const byPartition = new Map<string, BatchItem[]>();
    items.forEach((item, i) => {
      if (outcomes[i] === 'duplicate' || !touchesGlobal(item.effect)) return;
      const key = `${item.at.topic}/${item.at.partition}`;
      const list = byPartition.get(key);
      if (list) list.push(item);
      else byPartition.set(key, [item]);
    });
    try {
      await Promise.all(
        [...byPartition.values()].map(async (list) => {
          if (await this.applyGlobalBatch(list, now)) return;
          for (const item of list) await this.applyGlobal(item.effect, item.at, now);
        }),
      );
    } catch (err) {
      throw new GlobalWritePendingError(err);
    }
    return outcomes;
  }

  /** The user's events in one conditional write; false when it did not match (or had to create the document and lost the race). */
  private async applyUserBatch(userId: string, list: readonly BatchItem[], now: Date): Promise<boolean> {
    const ids = list.map((item) => eventDigest(item.eventId));
    if (new Set(ids).size !== ids.length) return false;
    const sums: Record<string, number> = {};
    const set: Partial<UserStatsDoc> = { updatedAt: now };
    for (const { effect } of list) {
      for (const name of COUNTERS) {
        const v = effect.counters[name];
        if (v) sums[name] = (sums[name] ?? 0) + v;
      }
      if (effect.completedDay && isDayKept(effect.completedDay, now)) {
        const key = `completedPerDay.${effect.completedDay}`;
        sums[key] = (sums[key] ?? 0) + 1;
      }
      if (effect.profile) Object.assign(set, effect.profile);
    }
    const inc: Record<string, number | Long> = { rev: list.length };
    for (const [name, v] of Object.entries(sums)) if (v) inc[name] = operand(name, v);
    try {
      const doc = await this.users.findOneAndUpdate(
        { _id: userId, userId, appliedIds: { $nin: ids } },
        {
          $inc: inc,
          $set: set,
          $push: { appliedIds: { $each: ids }, appliedAt: { $each: list.map((item, i) => `${ids[i]}@${positionKey(item.at)}`) } },
        },
        // A user without a document yet gets it here; one whose record has any of the ids does
        // not match, and the upsert's insert then fails on _id.
        { upsert: true, returnDocument: 'after', projection: APPLIED_USER_PROJECTION },
      );
      if (!doc) return false;
      await this.tidy(doc as unknown as AppliedUser, now);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** One partition's global share of a batch in one conditional write; false when its document is already past the first offset. */
  private async applyGlobalBatch(list: readonly BatchItem[], now: Date): Promise<boolean> {
    const first = Number(list[0]!.at.offset);
    const last = Number(list[list.length - 1]!.at.offset);
    const sums: Record<string, number> = {};
    const add = (key: string, v: number) => (sums[key] = (sums[key] ?? 0) + v);
    for (const { effect } of list) {
      for (const [name, v] of Object.entries(effect.counters) as [GlobalCounter, number][]) if (v) add(name, v);
      if (effect.createdDay && isDayKept(effect.createdDay, now)) add(`createdPerDay.${effect.createdDay}`, 1);
      if (effect.completedDay && isDayKept(effect.completedDay, now)) add(`completedPerDay.${effect.completedDay}`, 1);
    }
    const inc: Record<string, number | Long> = {};
    for (const [name, v] of Object.entries(sums)) if (v) inc[name] = operand(name, v);
    const id = `${list[0]!.at.topic}/${list[0]!.at.partition}`;
    try {
      const doc = await this.global.findOneAndUpdate(
        { _id: id, offset: { $lt: first } },
        { $inc: inc, $set: { offset: last, updatedAt: now } },
        { upsert: true, returnDocument: 'after' },
      );
      if (!doc) return false;
      await this.tidyGlobal(doc, now);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** The user's share of one event, inside that user's write queue. */
  private async applyUser(eventId: string, effect: Effect, at: Position, now: Date): Promise<ApplyOutcome> {
    const inc: Record<string, number | Long> = { rev: 1 };
    for (const name of COUNTERS) {
      const v = effect.counters[name];
      if (v) inc[name] = operand(name, v);
    }
    if (effect.completedDay && isDayKept(effect.completedDay, now)) inc[`completedPerDay.${effect.completedDay}`] = 1;
    const set: Partial<UserStatsDoc> = { updatedAt: now };
    if (effect.profile) Object.assign(set, effect.profile);
    const id = eventDigest(eventId);
    const record = `${id}@${positionKey(at)}`;

    const filter = { _id: effect.userId, userId: effect.userId, appliedIds: { $ne: id } };
    const update = { $inc: inc, $set: set, $push: { appliedIds: id, appliedAt: record } };
    for (let attempt = 1; attempt <= RACE_ATTEMPTS; attempt++) {
      const doc = await this.users.findOneAndUpdate(filter, update, { returnDocument: 'after', projection: APPLIED_USER_PROJECTION });
      if (doc) {
        await this.tidy(doc as unknown as AppliedUser, now);
        return 'applied';
      }
      const seen = await this.users.findOne({ _id: effect.userId, userId: effect.userId }, { projection: { appliedIds: 1, appliedAt: 1 } });
      if (seen?.appliedIds?.includes(id)) return seen.appliedAt?.includes(record) ? 'redelivered' : 'duplicate';
      if (seen) continue;
      // The user's first event: the same conditional write, allowed to create the document.
      // Another writer may create it first, which fails this insert on `_id`: go round again.
      try {
        await this.users.updateOne(filter, update, { upsert: true });
        return 'applied';
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    throw new Error(`user statistics document ${effect.userId} kept changing under concurrent writes`);
  }

  /**
   * Adds the effect to its source partition's global document, once: the write is conditional on
   * the document's offset being below this message's offset, and sets it to this offset in the
   * same update. A partition is processed in order, so a message whose offset is not above the
   * recorded one has been counted already. Only reached for an event the user write has just
   * applied, or for a redelivery of the very message that applied it, so copies of an event
   * arriving at other offsets never get here.
   */
  private async applyGlobal(effect: Effect, at: Position, now: Date): Promise<boolean> {
    if (!touchesGlobal(effect)) return false;
    const offset = Number(at.offset);
    const inc: Record<string, number | Long> = {};
    for (const [name, v] of Object.entries(effect.counters) as [GlobalCounter, number][]) if (v) inc[name] = operand(name, v);
    if (effect.createdDay && isDayKept(effect.createdDay, now)) inc[`createdPerDay.${effect.createdDay}`] = 1;
    if (effect.completedDay && isDayKept(effect.completedDay, now)) inc[`completedPerDay.${effect.completedDay}`] = 1;
    const id = `${at.topic}/${at.partition}`;

    for (let attempt = 1; attempt <= RACE_ATTEMPTS; attempt++) {
      try {
        const doc = await this.global.findOneAndUpdate(
          { _id: id, offset: { $lt: offset } },
          { $inc: inc, $set: { offset, updatedAt: now } },
          { upsert: true, returnDocument: 'after' },
        );
        if (doc) await this.tidyGlobal(doc, now);
        return true;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const seen = await this.global.findOne({ _id: id }, { projection: { offset: 1 } });
      if (seen && seen.offset >= offset) return false;
    }
    throw new Error(`global statistics document ${id} kept changing under a concurrent creation`);
  }

  /**
   * Keeps a user document small: the dedup record is cut back to the window, and per-day
   * counters that left the window are dropped. Conditional on `rev`, so an event applied in
   * between is never cut from the record; a lost race just leaves the trimming to a later event.
   * (`$push` with `$slice` in the main write would cut the record on every write; with slack
   * it is cut here once in a while.)
   */
  private async tidy(doc: AppliedUser, now: Date): Promise<void> {
    const trim = doc.applied > this.window * (1 + TRIM_SLACK);
    const expired = expiredDays(doc.completedPerDay, now);
    if (!trim && expired.length === 0) return;
    const update: { $set?: Partial<UserStatsDoc>; $unset?: Record<string, ''> } = {};
    if (trim) {
      // The record itself, read only now: at the revision just written, or the cut is left to a later event.
      const record = await this.users.findOne(
        { _id: doc._id, userId: doc.userId, rev: doc.rev },
        { projection: { appliedIds: 1, appliedAt: 1 } },
      );
      if (!record) return;
      update.$set = { appliedIds: (record.appliedIds ?? []).slice(-this.window), appliedAt: (record.appliedAt ?? []).slice(-this.window) };
    }
    if (expired.length > 0) update.$unset = Object.fromEntries(expired.map((d) => [`completedPerDay.${d}`, ''] as const));
    await this.users.updateOne({ _id: doc._id, userId: doc.userId, rev: doc.rev }, update);
  }

  /** Drops global per-day counters that left the window; nothing writes those days any more. */
  private async tidyGlobal(doc: GlobalStatsDoc, now: Date): Promise<void> {
    const unset: Record<string, ''> = {};
    for (const d of expiredDays(doc.createdPerDay, now)) unset[`createdPerDay.${d}`] = '';
    for (const d of expiredDays(doc.completedPerDay, now)) unset[`completedPerDay.${d}`] = '';
    if (Object.keys(unset).length > 0) await this.global.updateOne({ _id: doc._id }, { $unset: unset });
  }

  /**
   * One user's statistics; zeros for a user without events. The counters come from the cache when
   * it holds them (a user without events is cached too, as no counters); the per-day window is
   * applied here, so a cached value never carries yesterday's window into today.
   */
  async userStats(userId: string): Promise<UserStats> {
    const load = () => this.userCounters(userId);
    const doc = (this.cache ? await this.cache.read(userId, load) : await load()) ?? {};
    const n = (name: Counter) => doc[name] ?? 0;
    return {
      userId,
      tasksCreated: n('tasksCreated'),
      tasksCompleted: n('tasksCompleted'),
      tasksDeleted: n('tasksDeleted'),
      tasksOpen: n('tasksOpen'),
      completedPerDay: daySeries(doc.completedPerDay, this.now()),
      averageCompletionMs: average(n('completionTimeMsTotal'), n('completionCount')),
      completionTimeMsTotal: n('completionTimeMsTotal'),
      completionCount: n('completionCount'),
    };
  }

  private async userCounters(userId: string): Promise<UserCounters> {
    const doc = await this.users.findOne({ _id: userId, userId }, { projection: { appliedIds: 0, appliedAt: 0 } });
    const counters: UserCounters = {};
    for (const name of COUNTERS) if (doc?.[name] !== undefined) counters[name] = doc[name];
    if (doc?.completedPerDay) counters.completedPerDay = doc.completedPerDay;
    return counters;
  }

  /** The global statistics: the sum of the per-partition documents (a handful, not a scan of users). */
  async overview(): Promise<OverviewStats> {
    const totals: Record<GlobalCounter, number> = {
      usersRegistered: 0,
      tasksCreated: 0,
      tasksCompleted: 0,
      tasksDeleted: 0,
      tasksOpen: 0,
      completionTimeMsTotal: 0,
      completionCount: 0,
    };
    const created: Record<string, number> = {};
    const completed: Record<string, number> = {};
    for await (const doc of this.global.find({})) {
      for (const name of Object.keys(totals) as GlobalCounter[]) totals[name] += doc[name] ?? 0;
      for (const [d, v] of Object.entries(doc.createdPerDay ?? {})) created[d] = (created[d] ?? 0) + v;
      for (const [d, v] of Object.entries(doc.completedPerDay ?? {})) completed[d] = (completed[d] ?? 0) + v;
    }
    const now = this.now();
    return {
      ...totals,
      averageCompletionMs: average(totals.completionTimeMsTotal, totals.completionCount),
      createdPerDay: daySeries(created, now),
      completedPerDay: daySeries(completed, now),
    };
  }
}

function average(total: number, count: number): number {
  return count > 0 ? Math.round(total / count) : 0;
}
