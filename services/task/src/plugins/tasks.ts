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
    const { skipped } = await ensureIndexes(app.mongo.db.collection('tasks'), TaskRepository.indexes);
    if (skipped.length > 0) app.log.warn({ skipped }, 'task indexes not created');
    // Without it two requests with one Idempotency-Key could both create a task: refuse to start.
    const unique = skipped.find((s) => s.name === 'owner_idempotency_key');
    if (unique) throw new Error(`the unique index owner_idempotency_key could not be created: ${unique.reason}`);
    const repository = new TaskRepository(collection, app.outbox.owners, {
      settleMs: opts.settleMs,
      onEventStored: () => app.outbox.relay.wake(),
    });
    app.decorate('tasks', repository);
    app.decorate('cursors', new CursorCodec(opts.cursorSecret));
  },
  { name: 'tasks', dependencies: ['@taskmesh/mongo', 'outbox'] },
);
