import { MongoClient, MongoServerError, type Collection, type Document, type IndexDescription, type MongoClientOptions } from 'mongodb';

export interface MongoSettings {
  /** A MongoDB connection string: mongos in the cluster, the local server in development. */
  readonly uri: string;
  /** @default 20 */
  readonly maxPoolSize?: number;
  /** @default 0 */
  readonly minPoolSize?: number;
  /**
   * Bound on finding a server before an operation fails (a refused or dead server).
   * @default 1000
   */
  readonly serverSelectionTimeoutMs?: number;
  /**
   * Bound on waiting for the server's answer on an open connection (a hung server) and on opening
   * one. With server selection this keeps each store call within about 3 s, below the gateway's
   * upstream timeout (5 s), so a client gets the service's 503 rather than the gateway's 504.
   * @default 2000
   */
  readonly socketTimeoutMs?: number;
  /** Shows in the server's logs and currentOp. */
  readonly appName?: string;
  /** Observe every command, e.g. to check that queries are targeted. @default false */
  readonly monitorCommands?: boolean;
}

/**
 * Majority writes and retryable writes: an acknowledged write survives a primary failover, and a
 * write interrupted by one is retried once by the driver.
 */
export function createMongoClient(settings: MongoSettings): MongoClient {
  const options: MongoClientOptions = {
    maxPoolSize: settings.maxPoolSize ?? 20,
    minPoolSize: settings.minPoolSize ?? 0,
    serverSelectionTimeoutMS: settings.serverSelectionTimeoutMs ?? 1000,
    socketTimeoutMS: settings.socketTimeoutMs ?? 2000,
    connectTimeoutMS: Math.min(settings.socketTimeoutMs ?? 2000, 2000),
    writeConcern: { w: 'majority' },
    retryWrites: true,
    retryReads: true,
    monitorCommands: settings.monitorCommands ?? false,
    ...(settings.appName ? { appName: settings.appName } : {}),
  };
  return new MongoClient(settings.uri, options);
}

/** A `ping` round trip, for readiness checks. */
export async function pingMongo(client: MongoClient): Promise<void> {
  const res = await client.db('admin').command({ ping: 1 });
  if (res.ok !== 1) throw new Error('ping did not answer ok');
}

/** True for an index on a hashed key: the shard-key indexes of a sharded cluster. */
const isHashed = (spec: IndexDescription): boolean => Object.values(spec.key).includes('hashed');

/**
 * Creates indexes, each under its own name; an existing identical index is a no-op. Every refusal
 * is an error, with one exception: a hashed index on a server without hashed indexes (the local
 * single-node store), where it only matters for sharding. That one is returned in `skipped`, so
 * the caller can say so; nothing else is ever ignored.
 */
export async function ensureIndexes<T extends Document>(
  collection: Collection<T>,
  specs: readonly IndexDescription[],
): Promise<{ created: string[]; skipped: { name: string; reason: string }[] }> {
  const created: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const spec of specs) {
    const name = spec.name ?? Object.keys(spec.key).join('_');
    try {
      await collection.createIndexes([{ ...spec, name }]);
      created.push(name);
    } catch (err) {
      if (isHashed(spec) && err instanceof MongoServerError && err.code === CANNOT_CREATE_INDEX) {
        skipped.push({ name, reason: err.message });
        continue;
      }
      throw new Error(`cannot create index ${collection.collectionName}.${name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { created, skipped };
}

/** MongoDB's `CannotCreateIndex`: the server does not support an index of that kind. */
const CANNOT_CREATE_INDEX = 67;
