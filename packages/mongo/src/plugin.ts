import '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Db, MongoClient } from 'mongodb';
import { createMongoClient, pingMongo, type MongoSettings } from './client.js';
import { isTransientMongoError } from './errors.js';
import { observePool } from './pool-metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    mongo: { client: MongoClient; db: Db };
  }
}

export interface MongoPluginOptions extends MongoSettings {
  /** The service's own database: no service reads another's. */
  readonly dbName: string;
  /** Use this client instead of creating one (tests that watch commands). It is not closed here. */
  readonly client?: MongoClient;
  /** Publish the connection-pool gauges on `app.metrics`. @default true */
  readonly poolMetrics?: boolean;
}

/** The `mongoConfig` fragment of a service's configuration. */
export interface MongoEnvironment {
  readonly MONGODB_URI: string;
  readonly MONGODB_DB: string;
  readonly MONGODB_MAX_POOL_SIZE: number;
}

/** The plugin's options from a service's configuration (`mongoConfig`), named `appName` in the server's logs. */
export function mongoOptionsFrom(config: MongoEnvironment, appName: string): MongoPluginOptions {
  return { uri: config.MONGODB_URI, dbName: config.MONGODB_DB, maxPoolSize: config.MONGODB_MAX_POOL_SIZE, appName };
}

/**
 * One MongoClient per process, connected at start, closed in `onClose`, checked in readiness; its
 * transient errors are answered as the service's 503 by the shared error handler.
 */
export const mongoPlugin = fp<MongoPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const owned = !opts.client;
    const client = opts.client ?? createMongoClient(opts);
    // Before connecting, so that the first pool and its connections are counted too.
    const stopObserving = opts.poolMetrics !== false && app.metrics ? observePool(client, app.metrics) : undefined;
    await client.connect();
    app.decorate('mongo', { client, db: client.db(opts.dbName) });
    app.readiness?.add('mongo', () => pingMongo(client));
    // A store that is down or hung answers 503 with Retry-After from any route, not a 500.
    app.recogniseUnavailable?.(isTransientMongoError);
    app.addHook('onClose', async () => {
      stopObserving?.();
      if (owned) await client.close();
    });
  },
  { name: '@taskmesh/mongo', dependencies: ['@taskmesh/health'] },
);
