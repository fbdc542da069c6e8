import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '@taskmesh/access-token';
import { bearerSecurity } from '@taskmesh/service-kit';
import type { FastifyRequest } from 'fastify';
import type { WriteContext } from '../../domain/tasks/task-repository.js';
import { errors } from '../../errors.js';
import {
  CURSOR_PATTERN,
  ConditionalHeadersSchema,
  CreateHeadersSchema,
  CreateTaskSchema,
  IF_MATCH_PATTERN,
  IdParamsSchema,
  LIST_DEFAULT_LIMIT,
  ListQuerySchema,
  TaskLinks,
  TaskResponses,
  UpdateTaskSchema,
} from '../../schemas/tasks.js';
import { etagOf, parseIfMatch } from './preconditions.js';

const OBJECT_ID = /^[0-9a-f]{24}$/;
const IF_MATCH = new RegExp(IF_MATCH_PATTERN);
const CURSOR = new RegExp(CURSOR_PATTERN);
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const security = bearerSecurity;

function context(request: FastifyRequest): WriteContext {
  const traceparent = request.headers.traceparent;
  return {
    ownerId: principalOf(request).userId,
    ...(typeof traceparent === 'string' && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
  };
}

/** `/tasks`: the caller's own tasks; anyone else's answer 404 as if they did not exist. */
export const taskRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Before the body is parsed or validated: a caller without a valid token learns nothing else.
  app.addHook('onRequest', app.authenticate);
  // Before schema validation, so that a malformed id, If-Match or cursor gets its own code rather
  // than a generic one. The patterns are the schemas' own, so the document says what is refused.
  app.addHook('preValidation', async (request) => {
    const { id } = (request.params ?? {}) as { id?: string };
    if (id !== undefined && !OBJECT_ID.test(id)) throw errors.TASK_ERR_INVALID_ID();
    const ifMatch = request.headers['if-match'];
    if (typeof ifMatch === 'string' && !IF_MATCH.test(ifMatch)) throw errors.TASK_ERR_INVALID_IF_MATCH();
    const { cursor } = (request.query ?? {}) as { cursor?: unknown };
    if (typeof cursor === 'string' && !CURSOR.test(cursor)) throw errors.TASK_ERR_INVALID_CURSOR();
  });

  app.post(
    '/tasks',
    {
      links: { 201: TaskLinks },
      schema: {
        operationId: 'createTask',
        summary: 'Create a task',
        description:
          'With an Idempotency-Key, a repeat of the same request returns the task created first (Idempotent-Replayed: true); the same key with another body answers 422.',
        tags: ['tasks'],
        security,
        headers: CreateHeadersSchema,
        body: CreateTaskSchema,
        response: TaskResponses.create,
      },
    },
    async (request, reply) => {
      const { task, replayed } = await app.tasks.create(context(request), request.body, request.headers['idempotency-key']);
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(201).header('location', `/tasks/${task.id}`).header('etag', etagOf(task.version)).send(task);
    },
  );

  app.get(
    '/tasks',
    {
      schema: {
        operationId: 'listTasks',
        summary: 'List tasks, newest first',
        description: 'Pages of at most `limit` tasks; pass `nextCursor` back as `cursor` for the next page.',
        tags: ['tasks'],
        security,
        querystring: ListQuerySchema,
        response: TaskResponses.list,
      },
    },
    async (request) => {
      const ownerId = principalOf(request).userId;
      const q = request.query;
      const after = q.cursor === undefined ? undefined : app.cursors.decode(ownerId, q.cursor);
      if (q.cursor !== undefined && !after) throw errors.TASK_ERR_INVALID_CURSOR();
      const dueBefore = q.dueBefore === undefined ? undefined : new Date(q.dueBefore);
      const dueAfter = q.dueAfter === undefined ? undefined : new Date(q.dueAfter);
      if (dueBefore && dueAfter && dueAfter >= dueBefore) throw errors.TASK_ERR_INVALID_QUERY('dueAfter must be earlier than dueBefore');
      const page = await app.tasks.list(ownerId, {
        limit: q.limit ?? LIST_DEFAULT_LIMIT,
        ...(after ? { after } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(dueBefore ? { dueBefore } : {}),
        ...(dueAfter ? { dueAfter } : {}),
      });
      return { items: page.items, nextCursor: page.next ? app.cursors.encode(ownerId, page.next) : null };
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: {
        operationId: 'getTask',
        summary: 'Read a task',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        response: TaskResponses.get,
      },
    },
    async (request, reply) => {
      const task = await app.tasks.get(principalOf(request).userId, request.params.id);
      if (!task) throw errors.TASK_ERR_NOT_FOUND();
      return reply.header('etag', etagOf(task.version)).send(task);
    },
  );

  app.patch(
    '/tasks/:id',
    {
      schema: {
        operationId: 'updateTask',
        summary: 'Change a task',
        description: 'With If-Match, the change applies only to that version (412 otherwise).',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        headers: ConditionalHeadersSchema,
        body: UpdateTaskSchema,
        response: TaskResponses.update,
      },
    },
    async (request, reply) => {
      const precondition = parseIfMatch(request.headers['if-match']);
      const task = await app.tasks.update(context(request), request.params.id, request.body, precondition);
      return reply.header('etag', etagOf(task.version)).send(task);
    },
  );

  app.delete(
    '/tasks/:id',
    {
      schema: {
        operationId: 'deleteTask',
        summary: 'Delete a task',
        description: 'With If-Match, the task is deleted only at that version (412 otherwise).',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        headers: ConditionalHeadersSchema,
        response: TaskResponses.remove,
      },
    },
    async (request, reply) => {
      await app.tasks.remove(context(request), request.params.id, parseIfMatch(request.headers['if-match']));
      return reply.code(204).send();
    },
  );
};
