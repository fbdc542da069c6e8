import { ensureIndexes } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { CursorCodec } from '../domain/tasks/cursor.js';
import type { TaskDocument } from '../domain/tasks/task-document.js';
import { TaskRepository } from '../domain/tasks/task-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    tasks: TaskRepository;
    cursors: CursorCodec;
  }
}

export interface TasksPluginOptions {
  /** Signs list cursors, so that a cursor the service did not issue is refused. */
  readonly cursorSecret: string;
}

/** The task repository, with the indexes its queries need created at start. */
export const tasksPlugin = fp<TasksPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const collection = app.mongo.db.collection<TaskDocument>('tasks');
    // A refused index fails the start: without owner_idempotency_key, say, two requests with one
    // Idempotency-Key could both create a task.
    await ensureIndexes(app.mongo.db.collection('tasks'), TaskRepository.indexes);
    const { owners, relay, settleMs } = app.outbox;
    // The outbox's own settle time: the repository touches an owner's marker again for a write
    // slow enough that a relay may have parked the owner meanwhile.
    const repository = new TaskRepository(collection, owners, { settleMs, onEventStored: () => relay.wake() });
    app.decorate('tasks', repository);
    app.decorate('cursors', new CursorCodec(opts.cursorSecret));
  },
  { name: 'tasks', dependencies: ['@taskmesh/mongo', 'outbox'] },
);
