import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { createMongoClient, isDuplicateKey, isTransientMongoError } from '../src/index.js';

const caught = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);

describe('recognising store errors, against the real server', () => {
  it('when a unique index refuses a write, then it is a duplicate key and not transient', async () => {
    const client = createMongoClient({ uri: inject('infra').mongodbUri });
    const db = client.db(`test_${randomUUID().slice(0, 8)}`);
    try {
      await db.collection('c').insertOne({ _id: 'x' } as never);
      const err = await caught(db.collection('c').insertOne({ _id: 'x' } as never));
      const bulk = await caught(db.collection('c').insertMany([{ _id: 'y' }, { _id: 'x' }] as never[]));
      expect([isDuplicateKey(err), isTransientMongoError(err)]).toEqual([true, false]);
      expect([isDuplicateKey(bulk), isTransientMongoError(bulk)]).toEqual([true, false]);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });

  it('when the server refuses connections, then the error is transient and not a duplicate key', async () => {
    const client = createMongoClient({ uri: 'mongodb://127.0.0.1:1', serverSelectionTimeoutMs: 200 });
    const err = await caught(client.db('x').collection('c').findOne({}));
    await client.close();
    expect([isTransientMongoError(err), isDuplicateKey(err)]).toEqual([true, false]);
  });

  it('when our own code fails, then it is neither', () => {
    for (const err of [new SyntaxError('bad'), new Error('bug'), undefined, { code: 11000 }]) {
      expect([isTransientMongoError(err), isDuplicateKey(err)]).toEqual([false, false]);
    }
  });
});
