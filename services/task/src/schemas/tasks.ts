import { Type, type Static } from '@sinclair/typebox';
import { TaskStatusSchema } from '@taskmesh/events';

const strict = { additionalProperties: false } as const;
const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);

/** A title needs one visible character, so a blank title cannot hide a task in a list. */
const Title = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Description = Type.String({ maxLength: 5000 });
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 10, uniqueItems: true });

export const TaskIdSchema = Type.String({ pattern: '^[0-9a-f]{24}$', description: 'the task id (24 hexadecimal characters)' });

export const TaskSchema = Type.Object(
  {
    id: TaskIdSchema,
    title: Title,
    description: Description,
    status: TaskStatusSchema,
    dueAt: NullableDateTime,
    tags: Tags,
    createdAt: DateTime,
    updatedAt: DateTime,
    completedAt: NullableDateTime,
    version: Type.Integer({ minimum: 1, description: 'increases with every change; the ETag carries it' }),
  },
  strict,
);
export type Task = Static<typeof TaskSchema>;

/**
 * A task is created open (`todo` or `in_progress`): every completion then travels as a
 * `TaskCompleted` event, so consumers count completions from one event type only.
 */
export const CreateTaskSchema = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    status: Type.Optional(Type.Union([Type.Literal('todo'), Type.Literal('in_progress')])),
    dueAt: Type.Optional(NullableDateTime),
    tags: Type.Optional(Tags),
  },
  strict,
);
export type CreateTask = Static<typeof CreateTaskSchema>;

export const UpdateTaskSchema = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    status: Type.Optional(TaskStatusSchema),
    dueAt: Type.Optional(NullableDateTime),
    tags: Type.Optional(Tags),
  },
  { ...strict, minProperties: 1 },
);
export type UpdateTask = Static<typeof UpdateTaskSchema>;

export const ListQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page' })),
    status: Type.Optional(TaskStatusSchema),
    dueBefore: Type.Optional(Type.String({ format: 'date-time', description: 'only tasks due strictly before this time' })),
    dueAfter: Type.Optional(Type.String({ format: 'date-time', description: 'only tasks due strictly after this time' })),
  },
  strict,
);
export type ListQuery = Static<typeof ListQuerySchema>;

export const TaskPageSchema = Type.Object(
  {
    items: Type.Array(TaskSchema),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' }),
  },
  strict,
);

export const IdParamsSchema = Type.Object({ id: TaskIdSchema }, strict);
export type IdParams = Static<typeof IdParamsSchema>;

export const CreateHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7E]+$',
      description: 'a repeat with the same key returns the task created first',
    }),
  ),
});

export const ConditionalHeadersSchema = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 1024, description: 'the ETag last read; a stale one answers 412' })),
});

export const ErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });
