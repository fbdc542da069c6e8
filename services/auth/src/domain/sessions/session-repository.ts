import { ensureIndexes, isDuplicateKey } from '@taskmesh/mongo';
import type { Collection, Db, IndexDescription } from 'mongodb';

export type RevokeReason = 'logout' | 'reuse' | 'user_gone';

/**
 * One issued refresh token (`auth.refresh_tokens`). A session is the family of tokens that
 * rotation chains from one login; they share `familyId` and the absolute `expiresAt`.
 */
export interface RefreshTokenDoc {
  /** SHA-256 of the token: the token itself is never stored. */
  _id: string;
  familyId: string;
  userId: string;
  /** The user's shard key, so that refresh finds the user with a targeted read. */
  email: string;
  /** 1 for the token a login issued, then one more per rotation. */
  generation: number;
  issuedAt: Date;
  /** Absolute end of the session: rotation never moves it. */
  expiresAt: Date;
}

/** `auth.spent_refresh_tokens`: a token is spent by inserting its hash here, which only one request can do. */
interface SpentDoc {
  _id: string;
  familyId: string;
  spentAt: Date;
  expiresAt: Date;
}

/** `auth.revoked_sessions`: one document per revoked family; the first reason stays. */
export interface RevocationDoc {
  _id: string;
  userId: string;
  reason: RevokeReason;
  revokedAt: Date;
  expiresAt: Date;
}

// The TTL index removes expired documents, but only when MongoDB's TTL monitor next runs (every
// 60 s by default): the queries still compare expiresAt, so a session ends on time to the second.
const TTL: readonly IndexDescription[] = [{ key: { expiresAt: 1 }, name: 'expires_ttl', expireAfterSeconds: 0 }];

/**
 * Refresh tokens and sessions, written only by inserts. Spending a token is the insert of its
 * hash into a collection keyed by it: of two concurrent refreshes with one token exactly one wins
 * (the unique `_id`), and the spent record outlives nothing but the session (TTL). Revoking a
 * session is an insert too, checked at every use, so no later write can undo it. A conditional
 * update of the token would be as atomic on MongoDB; inserts keep the token document immutable
 * and the reuse evidence (which generation was replayed) intact for the revocation.
 *
 * All three collections are keyed (and, on a sharded cluster, hash-sharded) by `_id`, and every
 * read names it: each operation is routed to one shard.
 */
export class SessionRepository {
  private readonly tokens: Collection<RefreshTokenDoc>;
  private readonly spent: Collection<SpentDoc>;
  private readonly revoked: Collection<RevocationDoc>;

  constructor(private readonly db: Db) {
    this.tokens = db.collection<RefreshTokenDoc>('refresh_tokens');
    this.spent = db.collection<SpentDoc>('spent_refresh_tokens');
    this.revoked = db.collection<RevocationDoc>('revoked_sessions');
  }

  async ensureIndexes() {
    const results = await Promise.all(
      ['refresh_tokens', 'spent_refresh_tokens', 'revoked_sessions'].map((name) => ensureIndexes(this.db.collection(name), TTL)),
    );
    return { created: results.flatMap((r) => r.created), skipped: results.flatMap((r) => r.skipped) };
  }

  async issue(token: RefreshTokenDoc): Promise<void> {
    await this.tokens.insertOne(token);
  }

  /** The token with this hash if it exists and its session has not expired. */
  findLive(hash: string, now: Date): Promise<RefreshTokenDoc | null> {
    return this.tokens.findOne({ _id: hash, expiresAt: { $gt: now } });
  }

  /** Marks a token spent; false when it already was (a reuse, or a lost race). */
  async spend(token: RefreshTokenDoc, now: Date): Promise<boolean> {
    try {
      await this.spent.insertOne({ _id: token._id, familyId: token.familyId, spentAt: now, expiresAt: token.expiresAt });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  isRevoked(familyId: string): Promise<RevocationDoc | null> {
    return this.revoked.findOne({ _id: familyId });
  }

  /** Revokes a session; true when this call did it, false when it already was revoked. */
  async revoke(token: Pick<RefreshTokenDoc, 'familyId' | 'userId' | 'expiresAt'>, reason: RevokeReason, now: Date): Promise<boolean> {
    try {
      await this.revoked.insertOne({ _id: token.familyId, userId: token.userId, reason, revokedAt: now, expiresAt: token.expiresAt });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }
}
