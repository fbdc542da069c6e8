import { randomUUID } from 'node:crypto';
import { MongoClient, MongoServerError, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * The store guarantees the services are built on, each raced by eight connections of their own:
 * what makes a local server, or CI's mongo:7, trustworthy for this design. A server that applies
 * updates as an unisolated read-modify-write (FerretDB 1.24 does) fails the first three.
 */
const CONNECTIONS = 8;
const ROUNDS = 20;

let clients: MongoClient[];
let dbName: string;
const dbOf = (i: number): Db => clients[i]!.db(dbName);

beforeAll(async () => {
  dbName = `conformance_${randomUUID().slice(0, 8)}`;
  // One client per racer, each with a single connection: the race is across connections.
  clients = Array.from({ length: CONNECTIONS }, () => new MongoClient(inject('infra').mongodbUri, { maxPoolSize: 1, serverSelectionTimeoutMS: 5000 }));
  await Promise.all(clients.map((c) => c.connect()));
});

afterAll(async () => {
  await clients?.[0]?.db(dbName).dropDatabase();
  await Promise.all((clients ?? []).map((c) => c.close()));
});

/** Starts every racer's attempt together and returns what each got. */
const race = <T>(attempt: (db: Db, racer: number) => Promise<T>): Promise<T[]> =>
  Promise.all(clients.map((_, i) => attempt(dbOf(i), i)));

describe('store conformance: concurrent writes to one document', () => {
  it('when 8 connections each apply 100 $inc to one document, then none is lost', async () => {
    const counters = dbOf(0).collection<{ _id: string; n: number }>('counters');
    await counters.insertOne({ _id: 'c', n: 0 });
    await race(async (db) => {
      for (let i = 0; i < 100; i++) await db.collection<{ _id: string; n: number }>('counters').updateOne({ _id: 'c' }, { $inc: { n: 1 } });
    });
    expect((await counters.findOne({ _id: 'c' }))?.n).toBe(CONNECTIONS * 100);
  });

  it('when 8 connections claim one free lease at once, then exactly one wins, in every round', async () => {
    const leases = dbOf(0).collection<{ _id: string; holder: string | null }>('leases');
    const winnersPerRound: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const _id = `lease-${round}`;
      await leases.insertOne({ _id, holder: null });
      const claims = await race((db, racer) =>
        db
          .collection<{ _id: string; holder: string | null }>('leases')
          .findOneAndUpdate({ _id, holder: null }, { $set: { holder: `racer-${racer}` } }, { returnDocument: 'after' }),
      );
      const winners = claims.filter((doc) => doc !== null);
      winnersPerRound.push(winners.length);
      expect((await leases.findOne({ _id }))?.holder).toBe(winners[0]?.holder);
    }
    expect(winnersPerRound).toEqual(Array(ROUNDS).fill(1));
  });

  it('when 8 connections update one version of a document at once, then exactly one modifies it, in every round', async () => {
    const docs = dbOf(0).collection<{ _id: string; version: number; by?: number }>('versioned');
    const modifiedPerRound: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const _id = `doc-${round}`;
      await docs.insertOne({ _id, version: 1 });
      const results = await race((db, racer) =>
        db.collection<{ _id: string; version: number; by?: number }>('versioned').updateOne({ _id, version: 1 }, { $set: { by: racer }, $inc: { version: 1 } }),
      );
      modifiedPerRound.push(results.reduce((sum, r) => sum + r.modifiedCount, 0));
      expect((await docs.findOne({ _id }))?.version).toBe(2);
    }
    expect(modifiedPerRound).toEqual(Array(ROUNDS).fill(1));
  });

  it('when 8 connections insert the same key of a unique compound index, then one succeeds and the others get a duplicate-key error', async () => {
    const members = dbOf(0).collection('members');
    await members.createIndex({ team: 1, email: 1 }, { unique: true, name: 'team_email' });
    for (let round = 0; round < 5; round++) {
      const outcomes = await race((db) =>
        db
          .collection('members')
          .insertOne({ team: `t${round}`, email: 'ada@example.com' })
          .then(
            () => 'inserted',
            (err: unknown) => (err instanceof MongoServerError && err.code === 11000 ? 'duplicate' : `unexpected: ${String(err)}`),
          ),
      );
      expect(outcomes.filter((o) => o === 'inserted')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(CONNECTIONS - 1);
    }
    // The same email in another team is a different key.
    await expect(members.insertOne({ team: 'other', email: 'ada@example.com' })).resolves.toBeDefined();
  });
});

describe('store conformance: what the services lean on besides atomic updates', () => {
  it('when a document carries a past expiry under a TTL index, then the server removes it by itself', async () => {
    const db = dbOf(0);
    // mongod checks TTL indexes every 60 s by default; a shorter interval where the server allows it.
    await db.admin().command({ setParameter: 1, ttlMonitorSleepSecs: 1 }).catch(() => undefined);
    const sessions = db.collection('expiring');
    await sessions.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expiresAt_ttl' });
    await sessions.insertMany([
      { _id: 'old', expiresAt: new Date(Date.now() - 1000) },
      { _id: 'fresh', expiresAt: new Date(Date.now() + 3_600_000) },
    ] as never[]);
    await expect.poll(() => sessions.countDocuments({ _id: 'old' } as never), { timeout: 130_000, interval: 500 }).toBe(0);
    expect(await sessions.countDocuments({ _id: 'fresh' } as never)).toBe(1);
  }, 140_000);

  it('when a partial unique index covers only some documents, then only those must be unique', async () => {
    const users = dbOf(0).collection('partial');
    await users.createIndex({ handle: 1 }, { unique: true, partialFilterExpression: { active: true }, name: 'active_handle' });
    await users.insertOne({ handle: 'ada', active: true });
    await users.insertOne({ handle: 'ada', active: false });
    await expect(users.insertOne({ handle: 'ada', active: true })).rejects.toMatchObject({ code: 11000 });
  });

  it('when a change stream is open, then it sees an insert made on another connection', async () => {
    const watched = dbOf(0).collection('watched');
    await watched.insertOne({ _id: 'warm-up' } as never); // the collection exists before the stream opens
    const stream = watched.watch([{ $match: { operationType: 'insert' } }]);
    try {
      const next = stream.next();
      // The stream is open once its first getMore is under way; insert from another connection.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await dbOf(1).collection('watched').insertOne({ _id: 'seen', by: 1 } as never);
      const change = await next;
      expect(change).toMatchObject({ operationType: 'insert', documentKey: { _id: 'seen' } });
    } finally {
      await stream.close();
    }
  });

  it('when a transaction aborts, then none of its writes is visible; when one commits, all are', async () => {
    const client = clients[0]!;
    const accounts = client.db(dbName).collection<{ _id: string; balance: number }>('accounts');
    await accounts.insertMany([
      { _id: 'a', balance: 10 },
      { _id: 'b', balance: 0 },
    ]);
    const transfer = async (commit: boolean) => {
      const session = client.startSession();
      try {
        session.startTransaction({ writeConcern: { w: 'majority' } });
        await accounts.updateOne({ _id: 'a' }, { $inc: { balance: -5 } }, { session });
        await accounts.updateOne({ _id: 'b' }, { $inc: { balance: 5 } }, { session });
        // Isolation: another connection does not see the uncommitted half.
        expect((await dbOf(1).collection<{ _id: string; balance: number }>('accounts').findOne({ _id: 'a' }))?.balance).toBe(10);
        if (commit) await session.commitTransaction();
        else await session.abortTransaction();
      } finally {
        await session.endSession();
      }
    };
    await transfer(false);
    expect(await accounts.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'a', balance: 10 },
      { _id: 'b', balance: 0 },
    ]);
    await transfer(true);
    expect(await accounts.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'a', balance: 5 },
      { _id: 'b', balance: 5 },
    ]);
  });
});
