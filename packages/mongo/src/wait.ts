import { retryWithBackoff, type BackoffLogger } from '@taskmesh/service-kit';
import { createMongoClient } from './client.js';

export interface WaitForMongoOptions {
  /** Give up after this long (the error names the last failure). @default 120000 */
  readonly timeoutMs?: number;
  readonly log?: BackoffLogger;
}

/**
 * One look at the database: it answers `ping`, and when it is a `mongos`, the cluster has at
 * least one shard (before the init Job adds them, mongos answers but every write and index
 * creation on a sharded database fails).
 */
export async function mongoUsable(uri: string): Promise<void> {
  const client = createMongoClient({ uri, serverSelectionTimeoutMs: 1000, socketTimeoutMs: 3000 });
  try {
    const admin = client.db('admin');
    await admin.command({ ping: 1 });
    const hello = await admin.command({ hello: 1 });
    if (hello.msg === 'isdbgrid') {
      const { shards } = (await admin.command({ listShards: 1 })) as { shards?: unknown[] };
      if (!shards || shards.length === 0) throw new Error('mongos answers, but the cluster has no shard yet');
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Waits at start until the database is usable ({@link mongoUsable}), with a bounded, logged,
 * doubling back-off, instead of exiting: Kubernetes starts pods in any order, and a service that
 * exits while MongoDB comes up lands in CrashLoopBackOff's growing delays. The same wait runs
 * locally. Throws when `timeoutMs` runs out.
 */
export function waitForMongo(uri: string, opts: WaitForMongoOptions = {}): Promise<void> {
  return retryWithBackoff('mongodb', () => mongoUsable(uri), { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.log ? { log: opts.log } : {}) });
}
