import { Type, type Static } from '@sinclair/typebox';
import { EnvelopeSchema } from './envelope.js';

/** Topic names: one per producing service, plus retry and dead-letter topics per consumer group. */
export const TOPICS = {
  userEvents: 'auth.user-events.v1',
  taskEvents: 'task.task-events.v1',
} as const;

export const deadLetterTopic = (groupId: string): string => `${groupId}.dlq`;
export const retryTopic = (groupId: string): string => `${groupId}.retry`;

const Id = Type.String({ minLength: 1, maxLength: 64 });
const Time = Type.String({ format: 'date-time' });
export const TaskStatusSchema = Type.Union([Type.Literal('todo'), Type.Literal('in_progress'), Type.Literal('done')]);
export type TaskStatus = Static<typeof TaskStatusSchema>;

const strict = { additionalProperties: false } as const;

export const UserRegisteredSchema = EnvelopeSchema(
  'UserRegistered',
  Type.Object({ userId: Id, role: Type.Union([Type.Literal('user'), Type.Literal('admin')]), registeredAt: Time }, strict),
);

export const TaskCreatedSchema = EnvelopeSchema(
  'TaskCreated',
  Type.Object(
    { taskId: Id, ownerId: Id, status: TaskStatusSchema, dueAt: Type.Union([Time, Type.Null()]), createdAt: Time, version: Type.Integer({ minimum: 1 }) },
    strict,
  ),
);

/** A change that did not complete the task; `previousStatus` lets consumers keep open counts. */
export const TaskUpdatedSchema = EnvelopeSchema(
  'TaskUpdated',
  Type.Object(
    {
      taskId: Id,
      ownerId: Id,
      status: TaskStatusSchema,
      previousStatus: TaskStatusSchema,
      changed: Type.Array(Type.String(), { maxItems: 10 }),
      updatedAt: Time,
      version: Type.Integer({ minimum: 1 }),
    },
    strict,
  ),
);

/** The task moved to `done`; carries `createdAt` so time-to-complete needs no lookup. */
export const TaskCompletedSchema = EnvelopeSchema(
  'TaskCompleted',
  Type.Object(
    { taskId: Id, ownerId: Id, previousStatus: TaskStatusSchema, createdAt: Time, completedAt: Time, version: Type.Integer({ minimum: 1 }) },
    strict,
  ),
);

/** `status` is the status at deletion, so consumers know whether an open task went away. */
export const TaskDeletedSchema = EnvelopeSchema(
  'TaskDeleted',
  Type.Object({ taskId: Id, ownerId: Id, status: TaskStatusSchema, deletedAt: Time, version: Type.Integer({ minimum: 1 }) }, strict),
);

export type UserRegistered = Static<typeof UserRegisteredSchema>;
export type TaskCreated = Static<typeof TaskCreatedSchema>;
export type TaskUpdated = Static<typeof TaskUpdatedSchema>;
export type TaskCompleted = Static<typeof TaskCompletedSchema>;
export type TaskDeleted = Static<typeof TaskDeletedSchema>;
export type UserEvent = UserRegistered;
export type TaskEvent = TaskCreated | TaskUpdated | TaskCompleted | TaskDeleted;
export type DomainEvent = UserEvent | TaskEvent;
export type EventType = DomainEvent['type'];

export const EVENT_SCHEMAS = {
  UserRegistered: UserRegisteredSchema,
  TaskCreated: TaskCreatedSchema,
  TaskUpdated: TaskUpdatedSchema,
  TaskCompleted: TaskCompletedSchema,
  TaskDeleted: TaskDeletedSchema,
} as const;

/** Which topic each event type travels on. */
export const TOPIC_OF: Record<EventType, string> = {
  UserRegistered: TOPICS.userEvents,
  TaskCreated: TOPICS.taskEvents,
  TaskUpdated: TOPICS.taskEvents,
  TaskCompleted: TOPICS.taskEvents,
  TaskDeleted: TOPICS.taskEvents,
};
