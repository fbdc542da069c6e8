import { createHash } from 'node:crypto';
import type { TaskStatus } from '@taskmesh/events';
import { traceHeaders } from '@taskmesh/kafka';
import { isDuplicateKey } from '@taskmesh/mongo';
import { ObjectId, type Collection, type Filter, type IndexDescription } from 'mongodb';
import { errors } from '../../errors.js';
import type { CreateTask, Task, UpdateTask } from '../../schemas/tasks.js';
import type { OutboxOwners } from '../outbox/outbox-owners.js';
import type { CursorPosition } from './cursor.js';
import { taskChanged, taskCreated, taskDeleted, type TaskBefore } from './task-events.js';
import { PUBLIC_PROJECTION, toTask, type PendingEvent, type StoredTask, type TaskDocument } from './task-document.js';

/** Decides whether a change may go ahead on the task's current version (the parsed If-Match). */
export type Precondition = (version: number) => boolean;

export interface WriteContext {
  readonly ownerId: string;
  /** W3C trace context of the request, carried to the event's message headers. */
  readonly traceparent?: string;
}

export interface ListOptions {
  readonly limit: number;
  readonly after?: CursorPosition;
  readonly status?: TaskStatus;
  readonly dueBefore?: Date;
  readonly dueAfter?: Date;
}

export interface TaskPage {
  readonly items: Task[];
  /** The position to continue from, when there are more. */
  readonly next?: CursorPosition;
}

/** Optimistic retries of a change that lost a race with another change of the same task. */
const MAX_ATTEMPTS = 5;

/**
 * Users' tasks. Every query and update names `ownerId`, the shard key, so that on a sharded
 * cluster each one goes to a single shard; a task that belongs to someone else is therefore
 * indistinguishable from one that does not exist.
 *
 * Every change stores its event in the same single-document write (`$push` to `outbox`), after
 * taking a sequence number from the owner's outbox marker; see {@link OutboxOwners}.
 */
export class TaskRepository {
  static readonly indexes: IndexDescription[] = [
    { key: { ownerId: 1, createdAt: -1, _id: -1 }, name: 'owner_newest' },
    { key: { ownerId: 1, status: 1, createdAt: -1, _id: -1 }, name: 'owner_status_newest' },
    { key: { ownerId: 1, dueAt: 1 }, name: 'owner_due' },
    { key: { ownerId: 1, 'outbox.seq': 1 }, name: 'owner_outbox' },
    // The shard key is its prefix, which is what a sharded cluster requires of a unique index.
    { key: { ownerId: 1, idempotencyKey: 1 }, name: 'owner_idempotency_key', unique: true },
  ];

  constructor(
    private readonly tasks: Collection<TaskDocument>,
    private readonly owners: OutboxOwners,
    private readonly opts: { settleMs: number; onEventStored: (ownerId: string) => void },
  ) {}

  /**
   * Creates a task. With an idempotency key, a repeat returns the task the key created first
   * (`replayed`), and the same key with a different body is refused.
   */
  async create(ctx: WriteContext, input: CreateTask, idempotencyKey?: string): Promise<{ task: Task; replayed: boolean }> {
    const key = idempotencyKey === undefined ? undefined : `key:${idempotencyKey}`;
    const requestHash = key === undefined ? null : hashRequest(input);
    if (key !== undefined) {
      const replay = await this.replay(ctx.ownerId, key, requestHash!);
      if (replay) return { task: replay, replayed: true };
    }

    const _id = new ObjectId();
    const touched = await this.owners.touch(ctx.ownerId);
    const now = new Date(touched.at);
    const doc: TaskDocument = {
      _id,
      ownerId: ctx.ownerId,
      title: input.title,
      description: input.description ?? '',
      status: input.status ?? 'todo',
      dueAt: input.dueAt ? new Date(input.dueAt) : null,
      tags: input.tags ?? [],
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      version: 1,
      deletedAt: null,
      idempotencyKey: key ?? `id:${_id.toHexString()}`,
      requestHash,
      outbox: [],
    };
    doc.outbox.push(
      pending(
        touched.seq,
        taskCreated({ id: _id.toHexString(), ownerId: ctx.ownerId, status: doc.status, dueAt: doc.dueAt, createdAt: now }),
        ctx,
      ),
    );
    try {
      await this.tasks.insertOne(doc);
    } catch (err) {
      if (key === undefined || !isDuplicateKey(err)) throw err;
      // A concurrent request with the same key won the insert.
      const replay = await this.replay(ctx.ownerId, key, requestHash!);
      if (replay) return { task: replay, replayed: true };
      throw err;
    }
    await this.afterWrite(ctx.ownerId, touched.at);
    return { task: toTask(doc), replayed: false };
  }

  async get(ownerId: string, id: string): Promise<Task | undefined> {
    const doc = await this.tasks.findOne<StoredTask>(
      { _id: new ObjectId(id), ownerId, deletedAt: null },
      { projection: PUBLIC_PROJECTION },
    );
    return doc ? toTask(doc) : undefined;
  }

  /** Newest first, by `(createdAt, _id)`: tasks added while paging sort before the cursor, so no page skips or repeats one. */
  async list(ownerId: string, opts: ListOptions): Promise<TaskPage> {
    const filter: Filter<TaskDocument> = { ownerId, deletedAt: null };
    if (opts.status) filter.status = opts.status;
    if (opts.dueBefore || opts.dueAfter) {
      filter.dueAt = { ...(opts.dueBefore ? { $lt: opts.dueBefore } : {}), ...(opts.dueAfter ? { $gt: opts.dueAfter } : {}) };
    }
    if (opts.after) {
      const id = new ObjectId(opts.after.id);
      filter.$or = [{ createdAt: { $lt: opts.after.createdAt } }, { createdAt: opts.after.createdAt, _id: { $lt: id } }];
    }
    const docs = await this.tasks
      .find<StoredTask>(filter, { projection: PUBLIC_PROJECTION })
      .sort({ createdAt: -1, _id: -1 })
      .limit(opts.limit + 1)
      .toArray();
    const page = docs.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toTask),
      ...(docs.length > opts.limit && last ? { next: { createdAt: last.createdAt, id: last._id.toHexString() } } : {}),
    };
  }

  /** Applies a partial change; a change that changes nothing stores nothing and emits nothing. */
  async update(ctx: WriteContext, id: string, patch: UpdateTask, precondition?: Precondition): Promise<Task> {
    const _id = new ObjectId(id);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.current(ctx.ownerId, _id, precondition);
      const { set, changed } = diff(current, patch);
      if (changed.length === 0) return toTask(current);

      const touched = await this.owners.touch(ctx.ownerId);
      const now = new Date(touched.at);
      const status = patch.status ?? current.status;
      if (status !== current.status) set.completedAt = status === 'done' ? now : null;
      const event = taskChanged(before(ctx.ownerId, current), status, changed, now);
      const updated = await this.tasks.findOneAndUpdate(
        { _id, ownerId: ctx.ownerId, version: current.version, deletedAt: null },
        { $set: { ...set, updatedAt: now, version: current.version + 1 }, $push: { outbox: pending(touched.seq, event, ctx) } },
        // The answer carries the public fields only, not the outbox the update just grew.
        { returnDocument: 'after', projection: PUBLIC_PROJECTION },
      );
      if (updated) {
        await this.afterWrite(ctx.ownerId, touched.at);
        return toTask(updated);
      }
      // Another change got in first: read again, and the precondition decides on the new version.
    }
    throw errors.TASK_ERR_CONFLICT();
  }

  /** Hides the task at once; the document stays as a tombstone until its TaskDeleted is out. */
  async remove(ctx: WriteContext, id: string, precondition?: Precondition): Promise<void> {
    const _id = new ObjectId(id);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.current(ctx.ownerId, _id, precondition);
      const touched = await this.owners.touch(ctx.ownerId);
      const now = new Date(touched.at);
      const res = await this.tasks.updateOne(
        { _id, ownerId: ctx.ownerId, version: current.version, deletedAt: null },
        {
          $set: { deletedAt: now, updatedAt: now, version: current.version + 1 },
          $push: { outbox: pending(touched.seq, taskDeleted(before(ctx.ownerId, current), now), ctx) },
        },
      );
      if (res.matchedCount === 1) {
        await this.afterWrite(ctx.ownerId, touched.at);
        return;
      }
    }
    throw errors.TASK_ERR_CONFLICT();
  }

  private async current(ownerId: string, _id: ObjectId, precondition?: Precondition): Promise<StoredTask> {
    const doc = await this.tasks.findOne<StoredTask>({ _id, ownerId, deletedAt: null }, { projection: PUBLIC_PROJECTION });
    if (!doc) throw errors.TASK_ERR_NOT_FOUND();
    if (precondition && !precondition(doc.version)) throw errors.TASK_ERR_PRECONDITION_FAILED();
    return doc;
  }

  private async replay(ownerId: string, key: string, requestHash: string): Promise<Task | undefined> {
    const doc = await this.tasks.findOne<StoredTask & Pick<TaskDocument, 'deletedAt' | 'requestHash'>>(
      { ownerId, idempotencyKey: key },
      { projection: { outbox: 0, idempotencyKey: 0, ownerId: 0 } },
    );
    if (!doc) return undefined;
    if (doc.requestHash !== requestHash) throw errors.TASK_ERR_IDEMPOTENCY_KEY_REUSED();
    if (doc.deletedAt) throw errors.TASK_ERR_GONE();
    const { deletedAt: _d, requestHash: _h, ...task } = doc;
    return toTask(task);
  }

  private async afterWrite(ownerId: string, touchedAt: number): Promise<void> {
    // A write slower than the settle time may have been missed by a relay that then parked the
    // owner: touch the marker again so that this event is picked up.
    if (Date.now() - touchedAt > this.opts.settleMs / 2) await this.owners.retouch(ownerId);
    this.opts.onEventStored(ownerId);
  }
}

/**
 * Called inside the request: with tracing on, the active context (the task service's own span)
 * is saved; without it, the caller's `traceparent` as received, so the trace still travels.
 */
function pending(seq: number, event: PendingEvent['event'], ctx: WriteContext): PendingEvent {
  const active = traceHeaders();
  const headers = active.traceparent ? active : ctx.traceparent ? { traceparent: ctx.traceparent } : undefined;
  return { seq, event, ...(headers ? { headers } : {}) };
}

function before(ownerId: string, t: StoredTask): TaskBefore {
  return { id: t._id.toHexString(), ownerId, status: t.status, createdAt: t.createdAt, version: t.version };
}

/** The fields the patch really changes, in a stable order for the event's `changed` list. */
function diff(current: StoredTask, patch: UpdateTask): { set: Partial<TaskDocument>; changed: string[] } {
  const set: Partial<TaskDocument> = {};
  const changed: string[] = [];
  if (patch.title !== undefined && patch.title !== current.title) set.title = patch.title;
  if (patch.description !== undefined && patch.description !== current.description) set.description = patch.description;
  if (patch.status !== undefined && patch.status !== current.status) set.status = patch.status;
  if (patch.dueAt !== undefined) {
    const dueAt = patch.dueAt === null ? null : new Date(patch.dueAt);
    if ((dueAt?.getTime() ?? null) !== (current.dueAt?.getTime() ?? null)) set.dueAt = dueAt;
  }
  if (patch.tags !== undefined && !sameList(patch.tags, current.tags)) set.tags = patch.tags;
  for (const k of ['title', 'description', 'status', 'dueAt', 'tags'] as const) if (k in set) changed.push(k);
  return { set, changed };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Key-order independent, so that the same JSON sent twice hashes the same. */
function hashRequest(input: CreateTask): string {
  const canonical = JSON.stringify(input, Object.keys(input).sort());
  return createHash('sha256').update(canonical).digest('base64url');
}
