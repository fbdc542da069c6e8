import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LoginThrottle, type ThrottleSettings } from '../domain/login/login-throttle.js';
import { SessionRepository } from '../domain/sessions/session-repository.js';
import { UserRepository } from '../domain/users/user-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What auth stores: users (with their outbox), refresh-token sessions, failed logins. */
    repositories: { users: UserRepository; sessions: SessionRepository; throttle: LoginThrottle };
  }
}

export interface RepositoriesPluginOptions {
  readonly throttle: ThrottleSettings;
}

/** auth's collections, with the indexes their queries need created at start. */
export const repositoriesPlugin = fp<RepositoriesPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const users = new UserRepository(app.mongo.db);
    const sessions = new SessionRepository(app.mongo.db);
    const throttle = new LoginThrottle(app.mongo.db, opts.throttle);
    const skipped = (await Promise.all([users, sessions, throttle].map((repo) => repo.ensureIndexes()))).flatMap((r) => r.skipped);
    // Only a hashed index on a server without them (the local single-node store) is ever skipped.
    if (skipped.length > 0) app.log.info({ skipped }, 'hashed indexes are not supported by this server; they only matter for sharding');
    app.decorate('repositories', { users, sessions, throttle });
  },
  { name: 'auth-repositories', dependencies: ['@taskmesh/mongo'] },
);
