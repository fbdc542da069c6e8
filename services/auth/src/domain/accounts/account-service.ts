import { randomUUID } from 'node:crypto';
import { signAccessToken, type Role } from '@taskmesh/access-token';
import { envelope, validateEvent, type UserRegistered } from '@taskmesh/events';
import { traceHeaders } from '@taskmesh/kafka';
import { errors } from '../../errors.js';
import type { UserEvents } from '../../plugins/outbox.js';
import type { TokenPair, User } from '../../schemas/auth.js';
import type { KeyRing } from '../keys/signing-keys.js';
import type { LoginThrottle } from '../login/login-throttle.js';
import type { AuthMetrics } from '../metrics.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, isCommonPassword } from '../passwords/password-policy.js';
import { hashRefreshToken, isWellFormedRefreshToken, newFamilyId, newRefreshToken } from '../sessions/refresh-token.js';
import type { SessionRepository } from '../sessions/session-repository.js';
import { isValidEmail, normalizeEmail } from '../users/email.js';
import { EmailTakenError, type UserDoc, type UserRepository } from '../users/user-repository.js';

export interface AccountSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  /** Normalized emails that get the admin role. */
  readonly adminEmails: ReadonlySet<string>;
}

/** What `GET /auth/me` is made of besides the role, which comes from configuration on every read. */
export type Profile = Pick<User, 'id' | 'email' | 'createdAt'>;

/**
 * A cache-aside in front of the profile reads (`CacheAside` of `@taskmesh/redis`): `read` never
 * fails for the cache's sake. No write changes a profile (an account's email and creation time are
 * fixed, and the role is not cached), so nothing invalidates it; a change to either would have to.
 */
export interface ProfileCache {
  read(userId: string, load: () => Promise<Profile | null>): Promise<Profile | null | undefined>;
}

export interface AccountDeps {
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly throttle: LoginThrottle;
  readonly hasher: PasswordHasher;
  readonly keys: KeyRing;
  readonly publisher: Pick<UserEvents, 'publishSoon'>;
  readonly metrics: AuthMetrics;
  readonly log: { warn(obj: object, msg?: string): void };
  /** Where `me` looks first. */
  readonly profiles?: ProfileCache;
  /** The clock; tests move it. */
  readonly now?: () => Date;
}

const codePoints = (s: string) => [...s].length;

/** Registration, login, refresh-token rotation and logout; knows nothing of HTTP. */
export class AccountService {
  private readonly now: () => Date;

  constructor(
    private readonly settings: AccountSettings,
    private readonly deps: AccountDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The role comes from configuration on every token issued, so a change applies at the next refresh. */
  roleFor(email: string): Role {
    return this.settings.adminEmails.has(email) ? 'admin' : 'user';
  }

  async register(rawEmail: string, password: string): Promise<User> {
    const { users, hasher, publisher, metrics } = this.deps;
    const email = normalizeEmail(rawEmail);
    if (!isValidEmail(email)) throw errors.AUTH_ERR_INVALID_EMAIL();
    const length = codePoints(password);
    if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
      throw errors.AUTH_ERR_WEAK_PASSWORD(`the password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`);
    }
    if (isCommonPassword(password)) throw errors.AUTH_ERR_WEAK_PASSWORD();
    // Spares the hash for an obvious duplicate; the unique index still decides under races.
    if (await users.findByEmail(email)) throw errors.AUTH_ERR_EMAIL_TAKEN();

    const passwordHash = await hasher.hash(password);
    const now = this.now();
    const id = randomUUID();
    const role = this.roleFor(email);
    const event: UserRegistered = envelope('UserRegistered', id, { userId: id, role, registeredAt: now.toISOString() }, now);
    const checked = validateEvent(event);
    if (!checked.ok) throw new Error(`UserRegistered does not match its contract: ${checked.reason}`);

    const user: UserDoc = {
      _id: id,
      email,
      passwordHash,
      role,
      createdAt: now,
      updatedAt: now,
      outbox: [event],
      outboxAt: now,
      outboxHeaders: traceHeaders(),
    };
    try {
      await users.create(user);
    } catch (err) {
      if (err instanceof EmailTakenError) throw errors.AUTH_ERR_EMAIL_TAKEN();
      throw err;
    }
    metrics.registrations.inc();
    publisher.publishSoon(user);
    return this.toPublic(user);
  }

  /**
   * Known and unknown emails take the same path (a lockout check, a lookup, one argon2
   * verification, a failure count) and get the same answer, so neither status, body nor
   * timing tells whether an account exists.
   */
  async login(rawEmail: string, password: string): Promise<TokenPair> {
    const { users, throttle, hasher, metrics } = this.deps;
    const email = normalizeEmail(rawEmail);
    const now = this.now();
    const lockedFor = await throttle.lockedFor(email, now);
    if (lockedFor > 0) {
      metrics.logins.inc({ outcome: 'locked' });
      throw errors.AUTH_ERR_LOGIN_LOCKED(undefined, { 'retry-after': String(lockedFor) });
    }
    const user = await users.findByEmail(email);
    const ok = await hasher.verify(user?.passwordHash, password);
    if (!user || !ok) {
      if (await throttle.recordFailure(email, now)) metrics.lockouts.inc();
      metrics.logins.inc({ outcome: 'invalid_credentials' });
      throw errors.AUTH_ERR_INVALID_CREDENTIALS();
    }
    await throttle.reset(email);
    const role = this.roleFor(email);
    const changes: Partial<Pick<UserDoc, 'role' | 'passwordHash'>> = {};
    if (user.role !== role) changes.role = role;
    if (hasher.needsRehash(user.passwordHash)) changes.passwordHash = await hasher.hash(password);
    if (Object.keys(changes).length > 0) await users.update(user, changes, now);
    metrics.logins.inc({ outcome: 'success' });
    return this.startSession(user, role, now);
  }

  /**
   * Rotates a refresh token: the presented one is spent and a new one of the same session is
   * returned. A live token that was already spent is being replayed (someone holds a copy, or
   * two refreshes raced): the whole session is revoked, so its newest token dies too.
   */
  async refresh(token: string): Promise<TokenPair> {
    const { users, sessions, metrics, log } = this.deps;
    const now = this.now();
    const current = isWellFormedRefreshToken(token) ? await sessions.findLive(hashRefreshToken(token), now) : null;
    if (!current || (await sessions.isRevoked(current.familyId))) {
      metrics.refreshes.inc({ outcome: 'invalid' });
      throw errors.AUTH_ERR_REFRESH_INVALID();
    }
    if (!(await sessions.spend(current, now))) {
      await sessions.revoke(current, 'reuse', now);
      metrics.refreshes.inc({ outcome: 'reuse_detected' });
      log.warn({ familyId: current.familyId, userId: current.userId }, 'a spent refresh token was presented again; session revoked');
      throw errors.AUTH_ERR_REFRESH_INVALID();
    }
    const user = await users.findByEmail(current.email);
    if (!user || user._id !== current.userId) {
      await sessions.revoke(current, 'user_gone', now);
      metrics.refreshes.inc({ outcome: 'invalid' });
      throw errors.AUTH_ERR_REFRESH_INVALID();
    }
    const next = newRefreshToken();
    await sessions.issue({ ...current, _id: next.hash, generation: current.generation + 1, issuedAt: now });
    metrics.refreshes.inc({ outcome: 'rotated' });
    return this.pair(user._id, this.roleFor(user.email), next.token);
  }

  /**
   * Ends the session the refresh token belongs to, if it is the caller's. Idempotent: an
   * already revoked, expired or foreign session answers the same, so logout reveals nothing.
   */
  async logout(userId: string, token: string): Promise<void> {
    if (!isWellFormedRefreshToken(token)) throw errors.AUTH_ERR_REFRESH_INVALID();
    const now = this.now();
    const found = await this.deps.sessions.findLive(hashRefreshToken(token), now);
    if (found && found.userId === userId) await this.deps.sessions.revoke(found, 'logout', now);
  }

  async me(userId: string): Promise<User> {
    const load = async (): Promise<Profile | null> => {
      const user = await this.deps.users.findById(userId);
      return user ? { id: user._id, email: user.email, createdAt: user.createdAt.toISOString() } : null;
    };
    // An unknown id is not cached: its account may be created yet.
    const profile = this.deps.profiles ? await this.deps.profiles.read(userId, load) : await load();
    if (!profile) throw errors.AUTH_ERR_USER_NOT_FOUND();
    return { id: profile.id, email: profile.email, role: this.roleFor(profile.email), createdAt: profile.createdAt };
  }

  private async startSession(user: UserDoc, role: Role, now: Date): Promise<TokenPair> {
    const refresh = newRefreshToken();
    await this.deps.sessions.issue({
      _id: refresh.hash,
      familyId: newFamilyId(),
      userId: user._id,
      email: user.email,
      generation: 1,
      issuedAt: now,
      expiresAt: new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000),
    });
    return this.pair(user._id, role, refresh.token);
  }

  private async pair(userId: string, role: Role, refreshToken: string): Promise<TokenPair> {
    const { issuer, audience, accessTokenTtlSeconds } = this.settings;
    const accessToken = await signAccessToken(this.deps.keys.current, {
      sub: userId,
      role,
      issuer,
      audience,
      ttlSeconds: accessTokenTtlSeconds,
    });
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: accessTokenTtlSeconds };
  }

  private toPublic(user: UserDoc): User {
    return { id: user._id, email: user.email, role: this.roleFor(user.email), createdAt: user.createdAt.toISOString() };
  }
}
