import type { Role } from '@taskmesh/access-token';
import type { UserEvent } from '@taskmesh/events';
import { ensureIndexes, isDuplicateKey } from '@taskmesh/mongo';
import type { Collection, Db, IndexDescription } from 'mongodb';

/**
 * `auth.users`, sharded on `{ email: 1 }`: the unique email index has the shard key as its prefix
 * (the only way a unique index is legal on a sharded collection), and register, login and
 * refresh all look users up by email, so each is routed to one shard.
 */
export interface UserDoc {
  _id: string;
  email: string;
  passwordHash: string;
  role: Role;
  createdAt: Date;
  updatedAt: Date;
  /** Events written with the user in one atomic insert and not yet acknowledged by Kafka. */
  outbox?: UserEvent[];
  /** The trace context of the request that wrote the outbox, so the publish joins its trace. */
  outboxHeaders?: Record<string, string>;
  /** Set while `outbox` holds events: what the relay scans for, and its optimistic-lock token. */
  outboxAt?: Date;
}

/**
 * `auth.users_by_id`, sharded on `{ _id: "hashed" }`: maps an id (a token's `sub`) to the email
 * that routes to the user, so a lookup by id is two targeted reads instead of a broadcast.
 */
interface UserIdDoc {
  _id: string;
  email: string;
}

export class EmailTakenError extends Error {
  constructor() {
    super('email taken');
    this.name = 'EmailTakenError';
  }
}

export const USER_INDEXES: readonly IndexDescription[] = [
  { key: { email: 1 }, name: 'email_unique', unique: true },
  { key: { outboxAt: 1 }, name: 'outbox_pending', sparse: true },
];

export class UserRepository {
  private readonly users: Collection<UserDoc>;
  private readonly ids: Collection<UserIdDoc>;

  constructor(private readonly db: Db) {
    this.users = db.collection<UserDoc>('users');
    this.ids = db.collection<UserIdDoc>('users_by_id');
  }

  ensureIndexes() {
    return ensureIndexes(this.db.collection('users'), USER_INDEXES);
  }

  /**
   * Inserts a new user with its pending events in one document. The id mapping is written
   * first: if the user insert then fails (email taken, or a crash), the mapping points at no
   * user, which every lookup by id treats as absent, so it is harmless.
   */
  async create(user: UserDoc): Promise<void> {
    await this.ids.insertOne({ _id: user._id, email: user.email });
    try {
      await this.users.insertOne(user);
    } catch (err) {
      await this.ids.deleteOne({ _id: user._id }).catch(() => undefined);
      if (isDuplicateKey(err)) throw new EmailTakenError();
      throw err;
    }
  }

  findByEmail(email: string): Promise<UserDoc | null> {
    return this.users.findOne({ email });
  }

  async findById(id: string): Promise<UserDoc | null> {
    const mapping = await this.ids.findOne({ _id: id });
    if (!mapping) return null;
    return this.users.findOne({ email: mapping.email, _id: id });
  }

  async update(user: Pick<UserDoc, '_id' | 'email'>, set: Partial<Pick<UserDoc, 'role' | 'passwordHash'>>, now: Date): Promise<void> {
    await this.users.updateOne({ email: user.email, _id: user._id }, { $set: { ...set, updatedAt: now } });
  }

  /**
   * Users whose events have waited at least until `before`. A sweep, not a request path: it is
   * the one query here that goes to every shard, on the sparse `outboxAt` index.
   */
  pendingEvents(before: Date, limit: number): Promise<UserDoc[]> {
    return this.users
      .find({ outboxAt: { $lte: before } })
      .sort({ outboxAt: 1 })
      .limit(limit)
      .toArray();
  }

  countPendingEvents(): Promise<number> {
    return this.users.countDocuments({ outboxAt: { $exists: true } });
  }

  /**
   * Clears the outboxes once their events are acknowledged, in one bulk write, each only if it is
   * still the one that was sent (`outboxAt` unchanged): events added meanwhile stay for the relay.
   */
  async clearOutboxes(users: readonly Pick<UserDoc, '_id' | 'email' | 'outboxAt'>[]): Promise<void> {
    const sent = users.filter((u) => u.outboxAt);
    if (sent.length === 0) return;
    await this.users.bulkWrite(
      sent.map((u) => ({
        updateOne: {
          filter: { email: u.email, _id: u._id, outboxAt: u.outboxAt! },
          update: { $unset: { outbox: '', outboxAt: '', outboxHeaders: '' } },
        },
      })),
      { ordered: false },
    );
  }
}
