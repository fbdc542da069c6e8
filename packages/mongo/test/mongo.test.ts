import { randomUUID } from 'node:crypto';
import { createServiceApp } from '@taskmesh/fastify-plugins';
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

  it('when an index kind is not supported by the server, then the others are still created and the skipped one is named', async () => {
    const client = createMongoClient({ uri: inject('infra').mongodbUri });
    const db = client.db(`test_${randomUUID().slice(0, 8)}`);
    try {
      const result = await ensureIndexes(db.collection('c'), [
        { key: { a: 1 }, name: 'a_1' },
        { key: { b: 1 }, name: 'bad', expireAfterSeconds: -5 },
      ]);
      expect(result.created).toContain('a_1');
      expect(result.skipped.map((s) => s.name)).toEqual(['bad']);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });
});
