import type { OutboxStore, OutboxWork } from '@taskmesh/outbox';
import type { UserDoc, UserRepository } from '../users/user-repository.js';

/** One user document with events waiting in it. */
export interface UserWork extends OutboxWork {
  readonly user: Pick<UserDoc, '_id' | 'email' | 'outboxAt'>;
}

/** A user's stored events as the relay sends them: keyed by user id, with the writer's trace context. */
export function userWork(user: UserDoc): UserWork {
  return {
    user: { _id: user._id, email: user.email, ...(user.outboxAt ? { outboxAt: user.outboxAt } : {}) },
    messages: (user.outbox ?? []).map((event) => ({
      key: event.key,
      value: event,
      ...(user.outboxHeaders ? { headers: user.outboxHeaders } : {}),
    })),
  };
}

export interface UserOutboxSettings {
  /** Events younger than this are left to the request that wrote them. */
  readonly graceMs: number;
  /** Users per round. @default 100 */
  readonly batchSize?: number;
}

/**
 * Where user events wait: in the user document (`outbox`, with `outboxAt` as the time it was
 * written and the token that clearing it is conditional on). A registration publishes its own
 * event at once; a round claims what that left behind (Kafka down, a crash between the insert and
 * the send): the one query here that goes to every shard, on the sparse `outboxAt` index. There is
 * no lease: two pods may send one user's event twice, which at-least-once delivery allows and the
 * consumers' deduplication absorbs.
 */
export class UserOutbox implements OutboxStore<UserWork> {
  constructor(
    private readonly users: UserRepository,
    private readonly settings: UserOutboxSettings,
  ) {}

  async claim(maxMessages: number): Promise<UserWork[]> {
    const before = new Date(Date.now() - this.settings.graceMs);
    const pending = await this.users.pendingEvents(before, this.settings.batchSize ?? 100);
    const work: UserWork[] = [];
    let budget = maxMessages;
    for (const user of pending) {
      const w = userWork(user);
      if (work.length > 0 && w.messages.length > budget) break;
      work.push(w);
      budget -= w.messages.length;
    }
    return work;
  }

  async acknowledge(work: readonly UserWork[]): Promise<void> {
    await this.users.clearOutboxes(work.map((w) => w.user));
  }

  /** Nothing is held: the events stay where they are until a later round sends them. */
  async release(): Promise<void> {}
}
