import type { DomainEvent, TaskStatus } from '@taskmesh/events';
import { dayKey } from './days.js';

/** Counters kept both per user and globally (globally, `usersRegistered` too). */
export const COUNTERS = [
  'tasksCreated',
  'tasksCompleted',
  'tasksDeleted',
  'tasksOpen',
  'completionTimeMsTotal',
  'completionCount',
] as const;
export type Counter = (typeof COUNTERS)[number];
export type GlobalCounter = Counter | 'usersRegistered';

/** What one event changes; applying it is a set of `$inc`s and `$set`s, nothing read first. */
export interface Effect {
  /** The user whose statistics change: the event's owner. */
  readonly userId: string;
  readonly counters: Partial<Record<GlobalCounter, number>>;
  /** Day whose created count goes up (global only). */
  readonly createdDay?: string;
  /** Day whose completed count goes up (per user and global). */
  readonly completedDay?: string;
  /** Facts about the user set on their document. */
  readonly profile?: { readonly role: string; readonly registeredAt: string };
}

export type EffectResult = { ok: true; effect: Effect } | { ok: false; reason: string };

const isOpen = (status: TaskStatus): number => (status === 'done' ? 0 : 1);

/**
 * Turns a validated event into its statistics change. Deltas only (never "set the count to n"),
 * so effects commute: events of one user arriving from different topics or from a replay in
 * any order add up to the same totals.
 */
export function effectOf(event: DomainEvent): EffectResult {
  const owner = event.type === 'UserRegistered' ? event.data.userId : event.data.ownerId;
  // The key decides the partition and so the order of a user's events; an event keyed by
  // someone else would be counted out of order with the owner's other events.
  if (event.key !== owner)
    return { ok: false, reason: `${event.type}: key ${JSON.stringify(event.key)} is not the owner ${JSON.stringify(owner)}` };

  switch (event.type) {
    case 'UserRegistered':
      return {
        ok: true,
        effect: {
          userId: owner,
          counters: { usersRegistered: 1 },
          profile: { role: event.data.role, registeredAt: event.data.registeredAt },
        },
      };
    case 'TaskCreated':
      return {
        ok: true,
        effect: {
          userId: owner,
          counters: { tasksCreated: 1, tasksOpen: isOpen(event.data.status) },
          createdDay: dayKey(event.data.createdAt),
        },
      };
    case 'TaskUpdated':
      return {
        ok: true,
        effect: { userId: owner, counters: { tasksOpen: isOpen(event.data.status) - isOpen(event.data.previousStatus) } },
      };
    case 'TaskCompleted': {
      // Both instants come from the task service's clock; a negative span can only be a bug
      // there, and counting it as zero keeps one bad event from skewing the average.
      const spanMs = Math.max(0, Date.parse(event.data.completedAt) - Date.parse(event.data.createdAt));
      return {
        ok: true,
        effect: {
          userId: owner,
          counters: { tasksCompleted: 1, tasksOpen: -isOpen(event.data.previousStatus), completionTimeMsTotal: spanMs, completionCount: 1 },
          completedDay: dayKey(event.data.completedAt),
        },
      };
    }
    case 'TaskDeleted':
      return { ok: true, effect: { userId: owner, counters: { tasksDeleted: 1, tasksOpen: -isOpen(event.data.status) } } };
  }
}

/** Whether the effect changes the global statistics at all (a todo → in progress move does not). */
export function touchesGlobal(effect: Effect): boolean {
  return effect.createdDay !== undefined || effect.completedDay !== undefined || Object.values(effect.counters).some((v) => v !== 0);
}
