import { Type, type Static } from '@sinclair/typebox';
import { tokenErrors } from '@taskmesh/access-token';
import { TaskStatusSchema } from '@taskmesh/events';
import * as kit from '@taskmesh/service-kit';

const ENTITY_TAG = '(?:W/)?"[\\x21\\x23-\\x2b\\x2d-\\x7e]*"';

/**
 * If-Match as the service reads it (RFC 9110 §13.1.1 and the list syntax of §5.6.1): `*`, or a
 * comma-separated list of entity tags (`"…"` or `W/"…"`) with optional spaces or tabs, where empty
 * elements are ignored; an empty list matches no version. A tag holds no comma, since the list is
 * split on commas.
 */
// Each run of spaces has one place it can belong to, so matching stays linear in the header's length.
export const IF_MATCH_PATTERN = `^(?:\\*|[ \\t]*(?:${ENTITY_TAG}[ \\t]*)?(?:,[ \\t]*(?:${ENTITY_TAG}[ \\t]*)?)*)$`;

/** A list cursor: base64url of the position, a dot, base64url of its HMAC-SHA-256 (43 characters). */
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}$';
/**
 * An RFC 3339 date-time that JavaScript's Date can hold: RFC 3339 allows a leap second (`:60`),
 * which Date cannot represent, so the pattern leaves it out instead of letting it reach the store.
 */
const DATE_TIME_PATTERN =
  '^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$';
const DateTime = Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);

/** A title needs one visible character, so a blank title cannot hide a task in a list. */
const Title = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Description = Type.String({ maxLength: 5000 });
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 10, uniqueItems: true });

export const TaskIdSchema = Type.String({
  pattern: '^[0-9a-f]{24}$',
  description: 'the task id (24 lower-case hexadecimal characters)',
  examples: ['665f1c2e9b1d4a0012345678'],
});

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
  {
    ...kit.CLOSED,
    examples: [
      {
        id: '665f1c2e9b1d4a0012345678',
        title: 'write the report',
        description: 'two pages, with the figures',
        status: 'in_progress',
        dueAt: '2026-12-24T17:00:00.000Z',
        tags: ['work'],
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-01T09:30:00.000Z',
        completedAt: null,
        version: 2,
      },
    ],
  },
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
  {
    ...kit.CLOSED,
    examples: [
      { title: 'write the report', description: 'two pages, with the figures', dueAt: '2026-12-24T17:00:00.000Z', tags: ['work'] },
    ],
  },
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
  { ...kit.CLOSED, minProperties: 1, examples: [{ status: 'done' }] },
);
export type UpdateTask = Static<typeof UpdateTaskSchema>;

/** Page size when the query names none. */
export const LIST_DEFAULT_LIMIT = 20;

export const ListQuerySchema = Type.Object(
  {
    // Optional for the client; validation fills in the default, so handlers always see a number.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: LIST_DEFAULT_LIMIT })),
    cursor: Type.Optional(
      Type.String({
        maxLength: 512,
        pattern: CURSOR_PATTERN,
        description:
          'nextCursor of the previous page, as it was received: opaque and signed for the caller, so a cursor the service did not issue to this user answers 400 TASK_ERR_INVALID_CURSOR',
      }),
    ),
    status: Type.Optional(TaskStatusSchema),
    dueBefore: Type.Optional(
      Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN, description: 'only tasks due strictly before this time' }),
    ),
    dueAfter: Type.Optional(
      Type.String({
        format: 'date-time',
        pattern: DATE_TIME_PATTERN,
        description:
          'only tasks due strictly after this time; earlier than dueBefore when both are given (400 TASK_ERR_INVALID_QUERY otherwise)',
      }),
    ),
  },
  kit.CLOSED,
);

export const TaskPageSchema = Type.Object(
  {
    items: Type.Array(TaskSchema),
    nextCursor: Type.Union([Type.String({ pattern: CURSOR_PATTERN }), Type.Null()], { description: 'null on the last page' }),
  },
  {
    ...kit.CLOSED,
    examples: [
      {
        items: TaskSchema.examples as unknown[],
        nextCursor: 'eyJ0IjoxNzk2MTE2MjMwMjg3LCJpIjoiNjY1ZjFjMmU5YjFkNGEwMDEyMzQ1Njc4In0.MCQmZmXxGm0PQP6B0CY8lIBZSL6lvrQnVQyuWleMxCw',
      },
    ],
  },
);

export const IdParamsSchema = Type.Object({ id: TaskIdSchema }, kit.CLOSED);

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
  'if-match': Type.Optional(
    Type.String({
      pattern: IF_MATCH_PATTERN,
      description:
        '`*`, or a comma-separated list of entity tags (RFC 9110 §13.1.1) such as the ETag last read; the change applies only when one of them is the current version (412 otherwise). Weak tags never match.',
      examples: ['"2"'],
    }),
  ),
});

const ETag = { type: 'string', pattern: '^"[1-9][0-9]*"$', description: 'the strong entity tag of this version, for If-Match' } as const;

/** A task with its ETag, as GET and PATCH answer it. */
const TaskWithETag = { ...TaskSchema, headers: { etag: ETag } };

const token401 = () => kit.errorResponse('No valid access token', kit.codesWithStatus(401, tokenErrors));
const unavailable503 = () =>
  kit.errorResponse(
    'The task store or the signing keys cannot be reached; try again after Retry-After',
    ['ERR_UNAVAILABLE', ...kit.codesWithStatus(503, tokenErrors)],
    kit.RETRY_AFTER,
  );

/** Every answer of each operation: what it returns, and each failure with the codes it carries. */
export const TaskResponses: Record<'create' | 'list' | 'get' | 'update' | 'remove', kit.ResponseSchemas> = {
  create: {
    201: {
      ...TaskSchema,
      description: 'The task, created now or (with a repeated Idempotency-Key) before',
      headers: {
        etag: ETag,
        location: { type: 'string', pattern: '^/tasks/[0-9a-f]{24}$', description: 'the new task' },
        'idempotent-replayed': {
          type: 'string',
          pattern: '^true$',
          description: 'present when the task was created by an earlier request with this key',
        },
      },
    },
    400: kit.badRequestResponse('body', 'The request is invalid'),
    401: token401(),
    410: kit.errorResponse('The task created with this Idempotency-Key has since been deleted', ['TASK_ERR_GONE']),
    ...kit.bodyErrorResponses(),
    422: kit.errorResponse('This Idempotency-Key was already used with a different request', ['TASK_ERR_IDEMPOTENCY_KEY_REUSED']),
    503: unavailable503(),
  },
  list: {
    200: { ...TaskPageSchema, description: "A page of the caller's tasks, newest first" },
    400: kit.badRequestResponse('input', 'The query is invalid, or the cursor was not issued to the caller', [
      'TASK_ERR_INVALID_CURSOR',
      'TASK_ERR_INVALID_QUERY',
    ]),
    401: token401(),
    503: unavailable503(),
  },
  get: {
    200: { ...TaskWithETag, description: 'The task' },
    400: kit.badRequestResponse('input', 'The id is not a task id', ['TASK_ERR_INVALID_ID']),
    401: token401(),
    404: kit.errorResponse('No such task among the caller’s', ['TASK_ERR_NOT_FOUND']),
    503: unavailable503(),
  },
  update: {
    200: { ...TaskWithETag, description: 'The task as changed' },
    400: kit.badRequestResponse('body', 'The id, the If-Match header or the body is invalid', [
      'TASK_ERR_INVALID_ID',
      'TASK_ERR_INVALID_IF_MATCH',
    ]),
    401: token401(),
    404: kit.errorResponse('No such task among the caller’s', ['TASK_ERR_NOT_FOUND']),
    409: kit.errorResponse('The task kept changing concurrently; try again', ['TASK_ERR_CONFLICT']),
    412: kit.errorResponse('If-Match names no current version of the task', ['TASK_ERR_PRECONDITION_FAILED']),
    ...kit.bodyErrorResponses(),
    503: unavailable503(),
  },
  remove: {
    204: Type.Null({ description: 'Deleted' }),
    400: kit.badRequestResponse('input', 'The id or the If-Match header is invalid', ['TASK_ERR_INVALID_ID', 'TASK_ERR_INVALID_IF_MATCH']),
    401: token401(),
    404: kit.errorResponse('No such task among the caller’s', ['TASK_ERR_NOT_FOUND']),
    409: kit.errorResponse('The task kept changing concurrently; try again', ['TASK_ERR_CONFLICT']),
    412: kit.errorResponse('If-Match names no current version of the task', ['TASK_ERR_PRECONDITION_FAILED']),
    503: unavailable503(),
  },
};

/** What a client can do next with a task it has just created (OpenAPI links, for clients and tools). */
export const TaskLinks = {
  GetTask: { operationId: 'getTask', parameters: { 'path.id': '$response.body#/id' } },
  UpdateTask: { operationId: 'updateTask', parameters: { 'path.id': '$response.body#/id', 'header.if-match': '$response.header.etag' } },
  DeleteTask: { operationId: 'deleteTask', parameters: { 'path.id': '$response.body#/id', 'header.if-match': '$response.header.etag' } },
};
