import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AccountService, type AccountSettings } from '../domain/accounts/account-service.js';
import { createAuthMetrics } from '../domain/metrics.js';
import { createPasswordHasher } from '../domain/passwords/password-hasher.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Registration, login, refresh-token rotation and logout. */
    accounts: AccountService;
  }
}

export interface AccountsPluginOptions {
  readonly settings: AccountSettings;
  /** The clock for sessions and lockouts (tests). */
  readonly now?: () => Date;
}

/** The account service over auth's repositories, signing keys, password hasher and outbox. */
export const accountsPlugin = fp<AccountsPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const metrics = createAuthMetrics(app.metrics);
    const { users, sessions, throttle } = app.repositories;
    app.decorate(
      'accounts',
      new AccountService(opts.settings, {
        users,
        sessions,
        throttle,
        hasher: createPasswordHasher(() => metrics.passwordVerifications.inc()),
        keys: app.keys,
        publisher: app.userEvents,
        metrics,
        log: app.log,
        ...(app.profileCache ? { profiles: app.profileCache } : {}),
        ...(opts.now ? { now: opts.now } : {}),
      }),
    );
  },
  { name: 'auth-accounts', dependencies: ['auth-keys', 'auth-repositories', 'auth-outbox', 'profile-cache', '@taskmesh/metrics'] },
);
