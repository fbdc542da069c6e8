import { createHash, randomUUID } from 'node:crypto';
import { ensureIndexes, isDuplicateKey } from '@taskmesh/mongo';
import type { Collection, Db, IndexDescription } from 'mongodb';

/**
 * `auth.login_failures`, sharded on `{ account: "hashed" }`: one document per failed login.
 * `account` is a hash of the email: addresses people mistyped are not kept in the clear.
 */
interface FailureDoc {
  _id: string;
  account: string;
  at: Date;
  expiresAt: Date;
}

/** `auth.login_locks`, sharded on `{ _id: "hashed" }`: the lock of one account, by the same hash. */
interface LockDoc {
  _id: string;
  lockedAt: Date;
  lockedUntil: Date;
  expiresAt: Date;
}

export interface ThrottleSettings {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly lockoutSeconds: number;
}

const accountOf = (email: string) => createHash('sha256').update(email).digest('hex');

/**
 * Counts failed logins per email, for known and unknown emails alike: it never asks whether the
 * account exists, so it cannot reveal it. `maxFailures` failures within `windowSeconds` lock the
 * email for `lockoutSeconds`.
 *
 * Each failure is its own insert (removed by a TTL index when its window ends) and the count is a
 * query: that gives an exact sliding window, which one `$inc` counter per account cannot, and an
 * attacker gains nothing by sending failures in parallel. Locking is an insert under a unique
 * `_id` or a compare-and-set on `lockedAt`, so of two failures that reach the limit together
 * exactly one locks.
 */
export class LoginThrottle {
  private readonly failures: Collection<FailureDoc>;
  private readonly locks: Collection<LockDoc>;

  constructor(
    private readonly db: Db,
    private readonly settings: ThrottleSettings,
  ) {
    this.failures = db.collection<FailureDoc>('login_failures');
    this.locks = db.collection<LockDoc>('login_locks');
  }

  async ensureIndexes() {
    const ttl: IndexDescription = { key: { expiresAt: 1 }, name: 'expires_ttl', expireAfterSeconds: 0 };
    const [failures, locks] = await Promise.all([
      ensureIndexes(this.db.collection('login_failures'), [{ key: { account: 1, at: 1 }, name: 'account_at' }, ttl]),
      ensureIndexes(this.db.collection('login_locks'), [ttl]),
    ]);
    return { created: [...failures.created, ...locks.created], skipped: [...failures.skipped, ...locks.skipped] };
  }

  /** Seconds until the email may try again; 0 when it is not locked. */
  async lockedFor(email: string, now: Date): Promise<number> {
    const lock = await this.locks.findOne({ _id: accountOf(email) });
    const until = lock?.lockedUntil.getTime() ?? 0;
    return until > now.getTime() ? Math.ceil((until - now.getTime()) / 1000) : 0;
  }

  /** Records a failure; true when it is the one that locked the email. */
  async recordFailure(email: string, now: Date): Promise<boolean> {
    const account = accountOf(email);
    const { maxFailures, windowSeconds, lockoutSeconds } = this.settings;
    const windowMs = windowSeconds * 1000;
    await this.failures.insertOne({ _id: randomUUID(), account, at: now, expiresAt: new Date(now.getTime() + windowMs) });

    const previous = await this.locks.findOne({ _id: account });
    if (previous && previous.lockedUntil > now) return false;
    // Failures before the last lock were paid for by it; they do not count towards the next.
    const since = Math.max(now.getTime() - windowMs, previous?.lockedAt.getTime() ?? 0);
    const recent = await this.failures.countDocuments({ account, at: { $gt: new Date(since), $lte: now } }, { limit: maxFailures });
    if (recent < maxFailures) return false;

    const lock: Omit<LockDoc, '_id'> = {
      lockedAt: now,
      lockedUntil: new Date(now.getTime() + lockoutSeconds * 1000),
      expiresAt: new Date(now.getTime() + lockoutSeconds * 1000 + windowMs),
    };
    try {
      if (previous) {
        const res = await this.locks.updateOne({ _id: account, lockedAt: previous.lockedAt }, { $set: lock });
        return res.modifiedCount === 1;
      }
      await this.locks.insertOne({ _id: account, ...lock });
      return true;
    } catch (err) {
      // Another failure locked it at the same moment.
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** After a successful login: earlier failures no longer count. */
  async reset(email: string): Promise<void> {
    await this.failures.deleteMany({ account: accountOf(email) });
  }
}
