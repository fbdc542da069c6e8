import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WriteContext } from '../../domain/tasks/task-repository.js';
import { errors } from '../../errors.js';
import {
  ConditionalHeadersSchema,
  CreateHeadersSchema,
  CreateTaskSchema,
  ErrorSchema,
  IdParamsSchema,
  ListQuerySchema,
  TaskPageSchema,
  TaskSchema,
  UpdateTaskSchema,
  type CreateTask,
  type IdParams,
  type ListQuery,
  type UpdateTask,
} from '../../schemas/tasks.js';
import { etagOf, parseIfMatch } from './preconditions.js';

const OBJECT_ID = /^[0-9a-f]{24}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const security = [{ bearerAuth: [] }];
const errorResponses = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorSchema]));

function context(request: FastifyRequest): WriteContext {
  const traceparent = request.headers.traceparent;
  return {
    ownerId: request.principal!.userId,
    ...(typeof traceparent === 'string' && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
  };
}

/** `/tasks`: the caller's own tasks; anyone else's answer 404 as if they did not exist. */
export default async function taskRoutes(app: FastifyInstance): Promise<void> {
  // Before the body is parsed or validated: a caller without a valid token learns nothing else.
  app.addHook('onRequest', app.authenticate);
  // Before schema validation, so that a malformed id gets its own code rather than a generic one.
  app.addHook('preValidation', async (request) => {
    const { id } = (request.params ?? {}) as { id?: string };
    if (id !== undefined && !OBJECT_ID.test(id)) throw errors.TASK_ERR_INVALID_ID();
  });

  app.post<{ Body: CreateTask; Headers: { 'idempotency-key'?: string } }>(
    '/tasks',
    {
      schema: {
        summary: 'Create a task',
        tags: ['tasks'],
        security,
        headers: CreateHeadersSchema,
        body: CreateTaskSchema,
        response: { 201: TaskSchema, ...errorResponses(400, 401, 410, 415, 422) },
      },
    },
    async (request, reply) => {
      const { task, replayed } = await app.tasks.create(context(request), request.body, request.headers['idempotency-key']);
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(201).header('location', `/tasks/${task.id}`).header('etag', etagOf(task.version)).send(task);
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/tasks',
    {
      schema: {
        summary: 'List tasks, newest first',
        tags: ['tasks'],
        security,
        querystring: ListQuerySchema,
        response: { 200: TaskPageSchema, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const ownerId = request.principal!.userId;
      const q = request.query;
      const after = q.cursor === undefined ? undefined : app.cursors.decode(ownerId, q.cursor);
      if (q.cursor !== undefined && !after) throw errors.TASK_ERR_INVALID_CURSOR();
      const dueBefore = q.dueBefore === undefined ? undefined : new Date(q.dueBefore);
      const dueAfter = q.dueAfter === undefined ? undefined : new Date(q.dueAfter);
      if (dueBefore && dueAfter && dueAfter >= dueBefore) throw errors.TASK_ERR_INVALID_QUERY('dueAfter must be earlier than dueBefore');
      const page = await app.tasks.list(ownerId, {
        limit: q.limit,
        ...(after ? { after } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(dueBefore ? { dueBefore } : {}),
        ...(dueAfter ? { dueAfter } : {}),
      });
      return { items: page.items, nextCursor: page.next ? app.cursors.encode(ownerId, page.next) : null };
    },
  );

  app.get<{ Params: IdParams }>(
    '/tasks/:id',
    {
      schema: {
        summary: 'Read a task',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        response: { 200: TaskSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const task = await app.tasks.get(request.principal!.userId, request.params.id);
      if (!task) throw errors.TASK_ERR_NOT_FOUND();
      return reply.header('etag', etagOf(task.version)).send(task);
    },
  );

  app.patch<{ Params: IdParams; Body: UpdateTask; Headers: { 'if-match'?: string } }>(
    '/tasks/:id',
    {
      schema: {
        summary: 'Change a task',
        description: 'With If-Match, the change applies only to that version (412 otherwise).',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        headers: ConditionalHeadersSchema,
        body: UpdateTaskSchema,
        response: { 200: TaskSchema, ...errorResponses(400, 401, 404, 409, 412, 415) },
      },
    },
    async (request, reply) => {
      const precondition = parseIfMatch(request.headers['if-match']);
      const task = await app.tasks.update(context(request), request.params.id, request.body, precondition);
      return reply.header('etag', etagOf(task.version)).send(task);
    },
  );

  app.delete<{ Params: IdParams; Headers: { 'if-match'?: string } }>(
    '/tasks/:id',
    {
      schema: {
        summary: 'Delete a task',
        tags: ['tasks'],
        security,
        params: IdParamsSchema,
        headers: ConditionalHeadersSchema,
        response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 404, 409, 412) },
      },
    },
    async (request, reply) => {
      await app.tasks.remove(context(request), request.params.id, parseIfMatch(request.headers['if-match']));
      return reply.code(204).send();
    },
  );
}
