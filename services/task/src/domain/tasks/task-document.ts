import type { TaskEvent, TaskStatus } from '@taskmesh/events';
import type { ObjectId } from 'mongodb';
import type { Task } from '../../schemas/tasks.js';

/**
 * An event waiting in its task document for the relay. It is appended by the same update that
 * changes the task, so the change and its event are stored or lost together.
 */
export interface PendingEvent {
  /** The owner's event sequence number (from the owner's outbox marker): order across tasks. */
  readonly seq: number;
  /** Exactly what is published. */
  readonly event: TaskEvent;
  /**
   * Trace context of the request that caused the event (`traceparent`, and `tracestate` or
   * `baggage` when set), sent as the message's headers so that the relay's publish joins the
   * request's trace rather than the relay's.
   */
  readonly headers?: Record<string, string>;
  /** The caller's `traceparent` as received, in entries stored before `headers` existed. */
  readonly traceparent?: string;
}

/** One task as stored in `tasks`, sharded by `{ ownerId: "hashed" }`. */
export interface TaskDocument {
  _id: ObjectId;
  ownerId: string;
  title: string;
  description: string;
  status: TaskStatus;
  dueAt: Date | null;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  version: number;
  /** Set when the task is deleted: the document stays, hidden, until its TaskDeleted is out. */
  deletedAt: Date | null;
  /**
   * Unique per owner: `key:<Idempotency-Key>` when the client sent one, else `id:<task id>`. It is
   * always present so that a plain unique index `{ ownerId, idempotencyKey }` (allowed on a
   * collection sharded by ownerId, and on servers without partial indexes) enforces it.
   */
  idempotencyKey: string;
  /** Hash of the creating request's body, to refuse one key used for two different requests. */
  requestHash: string | null;
  outbox: PendingEvent[];
}

/** What reads return: never the outbox or the idempotency bookkeeping. */
export const PUBLIC_PROJECTION = { outbox: 0, idempotencyKey: 0, requestHash: 0, ownerId: 0, deletedAt: 0 } as const;

export type StoredTask = Omit<TaskDocument, 'outbox' | 'idempotencyKey' | 'requestHash' | 'ownerId' | 'deletedAt'>;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toTask(doc: StoredTask): Task {
  return {
    id: doc._id.toHexString(),
    title: doc.title,
    description: doc.description,
    status: doc.status,
    dueAt: iso(doc.dueAt),
    tags: doc.tags,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
    completedAt: iso(doc.completedAt),
    version: doc.version,
  };
}
