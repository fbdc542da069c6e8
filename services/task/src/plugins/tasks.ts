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
  readonly cursorSecret: string;
  readonly settleMs: number;
}

/** The task repository, with the indexes its queries need created at start. */
export const tasksPlugin = fp<TasksPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const collection = app.mongo.db.collection<TaskDocument>('tasks');
    // A refused index fails the start: without owner_idempotency_key, say, two requests with one
    // Idempotency-Key could both create a task.
    await ensureIndexes(app.mongo.db.collection('tasks'), TaskRepository.indexes);
    const repository = new TaskRepository(collection, app.outbox.owners, {
      settleMs: opts.settleMs,
      onEventStored: () => app.outbox.relay.wake(),
    });
    app.decorate('tasks', repository);
    app.decorate('cursors', new CursorCodec(opts.cursorSecret));
  },
  { name: 'tasks', dependencies: ['@taskmesh/mongo', 'outbox'] },
);
