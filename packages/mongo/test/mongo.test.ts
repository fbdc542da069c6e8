import { randomUUID } from 'node:crypto';
import { createServiceApp } from '@taskmesh/service-kit';
import { describe, expect, inject, it } from 'vitest';
import { createMongoClient, ensureIndexes, mongoPlugin, pingMongo } from '../src/index.js';

describe('mongo plugin against the real server', () => {
  it('when registered, then the app reaches its own database, is ready, and closes its client on close', async () => {
    const dbName = `test_${randomUUID().slice(0, 8)}`;
    const app = await createServiceApp({ service: 'mongo-test', logLevel: false });
    await app.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName, maxPoolSize: 3 });
    await app.ready();

    expect(app.mongo.db.databaseName).toBe(dbName);
    const { insertedId } = await app.mongo.db.collection('things').insertOne({ name: 'a' });
    expect(await app.mongo.db.collection('things').findOne({ _id: insertedId })).toMatchObject({ name: 'a' });
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).json().checks.mongo.ok).toBe(true);

    const client = app.mongo.client;
    expect(client.options.maxPoolSize).toBe(3);
    expect(client.options.writeConcern?.w).toBe('majority');
    expect(client.options.retryWrites).toBe(true);
    await app.mongo.db.dropDatabase();
    await app.close();
    await expect(pingMongo(client)).rejects.toThrow();
  });

  it('when the server is unreachable, then readiness fails within its bound instead of hanging', async () => {
    const client = createMongoClient({ uri: 'mongodb://127.0.0.1:1', serverSelectionTimeoutMs: 300 });
    await expect(pingMongo(client)).rejects.toThrow();
    await client.close();
  });

  it('when an index is refused, then start-up fails naming it; only a hashed index the server lacks is skipped', async () => {
    const client = createMongoClient({ uri: inject('infra').mongodbUri });
    const db = client.db(`test_${randomUUID().slice(0, 8)}`);
    try {
      await expect(
        ensureIndexes(db.collection('c'), [
          { key: { a: 1 }, name: 'a_1' },
          { key: { b: 1 }, name: 'bad', expireAfterSeconds: -5 },
        ]),
      ).rejects.toThrow(/cannot create index c\.bad/);
      const result = await ensureIndexes(db.collection('c'), [
        { key: { a: 1 }, name: 'a_1' },
        { key: { t: 1 }, name: 't_ttl', expireAfterSeconds: 60 },
        { key: { k: 1 }, name: 'k_partial', unique: true, partialFilterExpression: { live: true } },
        { key: { u: 'hashed' }, name: 'u_hashed' },
      ]);
      expect(result.created).toEqual(expect.arrayContaining(['a_1', 't_ttl', 'k_partial']));
      // mongo:7 creates the hashed index too; the local single-node store refuses it, and only it.
      expect(result.skipped.map((s) => s.name)).toEqual(result.created.includes('u_hashed') ? [] : ['u_hashed']);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });
});
