import type { DomainEvent } from './contracts.js';

const user = '6650a1f0c2b3d4e5f6a7b8c9';
const task = '6650a1f0c2b3d4e5f6a7b8d0';

/**
 * One valid example per event type: producer tests compare their output's shape with these,
 * consumer tests replay them.
 */
export const EVENT_EXAMPLES: { [K in DomainEvent['type']]: Extract<DomainEvent, { type: K }> } = {
  UserRegistered: {
    id: '0b6f7c1e-2a51-4c3e-9d7f-1f2a3b4c5d6e',
    type: 'UserRegistered',
    version: 1,
    occurredAt: '2026-01-05T10:00:00.000Z',
    key: user,
    data: { userId: user, role: 'user', registeredAt: '2026-01-05T10:00:00.000Z' },
  },
  TaskCreated: {
    id: '1c7a8d2f-3b62-4d4f-8e80-2a3b4c5d6e7f',
    type: 'TaskCreated',
    version: 1,
    occurredAt: '2026-01-05T10:01:00.000Z',
    key: user,
    data: { taskId: task, ownerId: user, status: 'todo', dueAt: null, createdAt: '2026-01-05T10:01:00.000Z', version: 1 },
  },
  TaskUpdated: {
    id: '2d8b9e3a-4c73-4e5a-9f91-3b4c5d6e7f80',
    type: 'TaskUpdated',
    version: 1,
    occurredAt: '2026-01-05T10:02:00.000Z',
    key: user,
    data: { taskId: task, ownerId: user, status: 'in_progress', previousStatus: 'todo', changed: ['status'], updatedAt: '2026-01-05T10:02:00.000Z', version: 2 },
  },
  TaskCompleted: {
    id: '3e9caf4b-5d84-4f6b-a0a2-4c5d6e7f8091',
    type: 'TaskCompleted',
    version: 1,
    occurredAt: '2026-01-05T11:01:00.000Z',
    key: user,
    data: { taskId: task, ownerId: user, previousStatus: 'in_progress', createdAt: '2026-01-05T10:01:00.000Z', completedAt: '2026-01-05T11:01:00.000Z', version: 3 },
  },
  TaskDeleted: {
    id: '4fa0b05c-6e95-4a7c-b1b3-5d6e7f8091a2',
    type: 'TaskDeleted',
    version: 1,
    occurredAt: '2026-01-05T12:00:00.000Z',
    key: user,
    data: { taskId: task, ownerId: user, status: 'done', deletedAt: '2026-01-05T12:00:00.000Z', version: 4 },
  },
};
