import { envelope, type DomainEvent, type TaskStatus } from '@taskmesh/events';

/** What the statistics must say after a workload, computed from the task lifecycles themselves. */
export interface UserReference {
  tasksCreated: number;
  tasksCompleted: number;
  tasksDeleted: number;
  tasksOpen: number;
  completionTimeMsTotal: number;
  completionCount: number;
  completedPerDay: Record<string, number>;
}

export interface Reference {
  users: Map<string, UserReference>;
  global: {
    usersRegistered: number;
    tasksCreated: number;
    tasksCompleted: number;
    tasksDeleted: number;
    tasksOpen: number;
    completionTimeMsTotal: number;
    completionCount: number;
    createdPerDay: Record<string, number>;
    completedPerDay: Record<string, number>;
  };
}

export interface Workload {
  readonly userIds: string[];
  readonly events: DomainEvent[];
  readonly reference: Reference;
}

/** A small seeded generator, so that a failing run can be repeated exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (n: number, rand: () => number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

interface TaskState {
  id: string;
  status: TaskStatus;
  createdAt: string;
  version: number;
  deleted: boolean;
}

/**
 * A realistic mix of events for `users` users: each registers, then creates, moves, completes,
 * reopens and deletes tasks, with times spread over the last three weeks. The reference is kept
 * from the final state of every task, not from the events, so it checks the consumer's
 * arithmetic independently.
 */
export function mixedWorkload(opts: { users: number; events: number; seed?: number; now?: Date }): Workload {
  const rand = rng(opts.seed ?? 42);
  const nowMs = (opts.now ?? new Date()).getTime();
  const userIds = Array.from({ length: opts.users }, () => hex(24, rand));
  const clocks = new Map(userIds.map((u) => [u, nowMs - 21 * 86_400_000 + Math.floor(rand() * 86_400_000)]));
  const tasks = new Map<string, TaskState[]>(userIds.map((u) => [u, []]));
  const registered = new Set<string>();
  const completions: { userId: string; at: number; spanMs: number }[] = [];
  const events: DomainEvent[] = [];

  const tick = (u: string): string => {
    const t = Math.min(nowMs - 60_000, clocks.get(u)! + 60_000 + Math.floor(rand() * 10 * 3_600_000));
    clocks.set(u, t);
    return new Date(t).toISOString();
  };

  while (events.length < opts.events) {
    const u = userIds[Math.floor(rand() * userIds.length)]!;
    if (!registered.has(u)) {
      registered.add(u);
      const at = tick(u);
      events.push(envelope('UserRegistered', u, { userId: u, role: 'user' as const, registeredAt: at }, new Date(at)) as DomainEvent);
      continue;
    }
    const live = tasks.get(u)!.filter((t) => !t.deleted);
    const open = live.filter((t) => t.status !== 'done');
    const done = live.filter((t) => t.status === 'done');
    const r = rand();
    const at = tick(u);
    const when = new Date(at);
    if (r < 0.35 || live.length === 0) {
      const status: TaskStatus = rand() < 0.8 ? 'todo' : 'in_progress';
      const t: TaskState = { id: hex(24, rand), status, createdAt: at, version: 1, deleted: false };
      tasks.get(u)!.push(t);
      events.push(
        envelope('TaskCreated', u, { taskId: t.id, ownerId: u, status, dueAt: null, createdAt: at, version: 1 }, when) as DomainEvent,
      );
    } else if (r < 0.55 && open.length > 0) {
      const t = open[Math.floor(rand() * open.length)]!;
      const previousStatus = t.status;
      t.status = previousStatus === 'todo' ? 'in_progress' : 'todo';
      t.version++;
      events.push(
        envelope(
          'TaskUpdated',
          u,
          { taskId: t.id, ownerId: u, status: t.status, previousStatus, changed: ['status'], updatedAt: at, version: t.version },
          when,
        ) as DomainEvent,
      );
    } else if (r < 0.8 && open.length > 0) {
      const t = open[Math.floor(rand() * open.length)]!;
      const previousStatus = t.status;
      t.status = 'done';
      t.version++;
      completions.push({ userId: u, at: when.getTime(), spanMs: when.getTime() - Date.parse(t.createdAt) });
      events.push(
        envelope(
          'TaskCompleted',
          u,
          { taskId: t.id, ownerId: u, previousStatus, createdAt: t.createdAt, completedAt: at, version: t.version },
          when,
        ) as DomainEvent,
      );
    } else if (r < 0.85 && done.length > 0) {
      const t = done[Math.floor(rand() * done.length)]!;
      t.status = 'todo';
      t.version++;
      events.push(
        envelope(
          'TaskUpdated',
          u,
          {
            taskId: t.id,
            ownerId: u,
            status: 'todo' as const,
            previousStatus: 'done' as const,
            changed: ['status'],
            updatedAt: at,
            version: t.version,
          },
          when,
        ) as DomainEvent,
      );
    } else {
      const t = live[Math.floor(rand() * live.length)]!;
      t.deleted = true;
      t.version++;
      events.push(
        envelope('TaskDeleted', u, { taskId: t.id, ownerId: u, status: t.status, deletedAt: at, version: t.version }, when) as DomainEvent,
      );
    }
  }

  const reference: Reference = {
    users: new Map(),
    global: {
      usersRegistered: registered.size,
      tasksCreated: 0,
      tasksCompleted: 0,
      tasksDeleted: 0,
      tasksOpen: 0,
      completionTimeMsTotal: 0,
      completionCount: 0,
      createdPerDay: {},
      completedPerDay: {},
    },
  };
  const g = reference.global;
  for (const u of userIds) {
    const all = tasks.get(u)!;
    const mine = completions.filter((c) => c.userId === u);
    const perDay: Record<string, number> = {};
    for (const c of mine) perDay[day(c.at)] = (perDay[day(c.at)] ?? 0) + 1;
    const ref: UserReference = {
      tasksCreated: all.length,
      tasksCompleted: mine.length,
      tasksDeleted: all.filter((t) => t.deleted).length,
      tasksOpen: all.filter((t) => !t.deleted && t.status !== 'done').length,
      completionTimeMsTotal: mine.reduce((s, c) => s + c.spanMs, 0),
      completionCount: mine.length,
      completedPerDay: perDay,
    };
    reference.users.set(u, ref);
    g.tasksCreated += ref.tasksCreated;
    g.tasksCompleted += ref.tasksCompleted;
    g.tasksDeleted += ref.tasksDeleted;
    g.tasksOpen += ref.tasksOpen;
    g.completionTimeMsTotal += ref.completionTimeMsTotal;
    g.completionCount += ref.completionCount;
    for (const [d, n] of Object.entries(perDay)) g.completedPerDay[d] = (g.completedPerDay[d] ?? 0) + n;
    for (const t of all) g.createdPerDay[day(Date.parse(t.createdAt))] = (g.createdPerDay[day(Date.parse(t.createdAt))] ?? 0) + 1;
  }
  return { userIds, events, reference };
}
