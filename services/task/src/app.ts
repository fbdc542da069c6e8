import { accessTokenPlugin, createAccessTokenVerifier } from '@taskmesh/access-token';
import { mongoOptionsFrom, mongoPlugin } from '@taskmesh/mongo';
import { createServiceApp, openApiPlugin } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import type { MongoClient } from 'mongodb';
import type { Config } from './config.js';
import { outboxOptionsFrom, outboxPlugin } from './plugins/outbox.js';
import { tasksPlugin } from './plugins/tasks.js';
import { taskRoutes } from './routes/tasks/index.js';

export interface AppOptions {
  /** pino level, or false for silence in tests. */
  readonly logLevel?: string | false;
  /** A MongoClient to use instead of one from MONGODB_URI (tests that watch commands); not closed by the app. */
  readonly mongoClient?: MongoClient;
}

/** Builds the task service; never listens and never reads process.env. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = await createServiceApp({ service: 'task', logLevel: opts.logLevel ?? config.LOG_LEVEL });

  // Shared plugins (packages/): the API document, the store, access tokens.
  await app.register(openApiPlugin, {
    title: 'taskmesh task service',
    description: "Users' tasks; every route needs a bearer access token.",
  });
  await app.register(mongoPlugin, { ...mongoOptionsFrom(config, 'task'), ...(opts.mongoClient ? { client: opts.mongoClient } : {}) });
  await app.register(accessTokenPlugin, {
    verify: createAccessTokenVerifier({ jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
  });

  // The service's own plugins (src/plugins/), each decorating the app with what it builds.
  await app.register(outboxPlugin, outboxOptionsFrom(config));
  await app.register(tasksPlugin, { cursorSecret: config.CURSOR_SECRET });

  // Entry points (src/routes/).
  await app.register(taskRoutes);
  return app;
}
