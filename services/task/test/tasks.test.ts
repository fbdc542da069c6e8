import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ObjectId, type Collection } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TaskDocument } from '../src/domain/tasks/task-document.js';
import { json, ShardKeyWatcher, taskHarness, type TaskHarness } from './harness.js';

type Task = {
  id: string;
  title: string;
  description: string;
  status: string;
  dueAt: string | null;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  version: number;
};

let h: TaskHarness;
let app: FastifyInstance;
let tasks: Collection<TaskDocument>;

beforeAll(async () => {
  h = await taskHarness(inject('infra'));
  app = await h.app();
  tasks = h.client.db(h.config.MONGODB_DB).collection<TaskDocument>('tasks');
});

afterAll(async () => {
  await h?.close();
});

/** A user with a token, and shorthand for requests made as that user. */
async function user() {
  const id = `user-${randomUUID()}`;
  const token = await h.issuer.token(id);
  const call = (opts: InjectOptions) => app.inject({ ...opts, headers: { authorization: `Bearer ${token}`, ...opts.headers } });
  const create = async (body: Record<string, unknown> = { title: 'a task' }) => {
    const res = await call({ method: 'POST', url: '/tasks', payload: body });
    expect(res.statusCode, res.body).toBe(201);
    return json<Task>(res);
  };
  return { id, token, call, create };
}

const stored = (ownerId: string, id: string) => tasks.findOne({ _id: new ObjectId(id), ownerId });

describe('task CRUD', () => {
  it('when a task is created, read, changed and deleted, then each answer and the stored document agree', async () => {
    const u = await user();
    const created = await u.call({
      method: 'POST',
      url: '/tasks',
      payload: { title: 'Write the report', description: 'quarterly', dueAt: '2030-01-02T03:04:05.000Z', tags: ['work', 'q1'] },
    });
    expect(created.statusCode).toBe(201);
    const task = json<Task>(created);
    expect(task).toMatchObject({
      title: 'Write the report',
      description: 'quarterly',
      status: 'todo',
      dueAt: '2030-01-02T03:04:05.000Z',
      tags: ['work', 'q1'],
      completedAt: null,
      version: 1,
    });
    expect(task.id).toMatch(/^[0-9a-f]{24}$/);
    expect(task.createdAt).toBe(task.updatedAt);
    expect(created.headers.etag).toBe('"1"');
    expect(created.headers.location).toBe(`/tasks/${task.id}`);
    expect(Object.keys(task)).not.toContain('ownerId');

    const doc = await stored(u.id, task.id);
    expect(doc).toMatchObject({ ownerId: u.id, title: 'Write the report', version: 1, deletedAt: null });

    const read = await u.call({ method: 'GET', url: `/tasks/${task.id}` });
    expect(read.statusCode).toBe(200);
    expect(json(read)).toEqual(task);
    expect(read.headers.etag).toBe('"1"');

    const patched = await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { status: 'done', tags: ['work'] } });
    expect(patched.statusCode).toBe(200);
    const done = json<Task>(patched);
    expect(done).toMatchObject({ id: task.id, status: 'done', tags: ['work'], version: 2 });
    expect(done.completedAt).toBe(done.updatedAt);
    expect(patched.headers.etag).toBe('"2"');
    expect(await stored(u.id, task.id)).toMatchObject({ status: 'done', version: 2, tags: ['work'] });

    const reopened = json<Task>(
      await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { status: 'in_progress', dueAt: null } }),
    );
    expect(reopened).toMatchObject({ status: 'in_progress', completedAt: null, dueAt: null, version: 3 });

    const deleted = await u.call({ method: 'DELETE', url: `/tasks/${task.id}` });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect((await u.call({ method: 'GET', url: `/tasks/${task.id}` })).statusCode).toBe(404);
    expect((await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'x' } })).statusCode).toBe(404);
    expect((await u.call({ method: 'DELETE', url: `/tasks/${task.id}` })).statusCode).toBe(404);
    const list = json<{ items: Task[] }>(await u.call({ method: 'GET', url: '/tasks' }));
    expect(list.items.map((t) => t.id)).not.toContain(task.id);
  });

  it('when a change changes nothing, then the version stays and no event is stored', async () => {
    const u = await user();
    const task = await u.create({ title: 'same', tags: ['a'] });
    const res = await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'same', tags: ['a'] } });
    expect(res.statusCode).toBe(200);
    expect(json<Task>(res).version).toBe(1);
    const doc = await stored(u.id, task.id);
    expect(doc?.version).toBe(1);
    expect(doc!.outbox.every((p) => p.event.type === 'TaskCreated')).toBe(true);
  });

  it('when tasks are listed with filters, then only the matching ones come back, newest first', async () => {
    const u = await user();
    const early = await u.create({ title: 'early', dueAt: '2030-01-01T00:00:00.000Z' });
    const late = await u.create({ title: 'late', dueAt: '2030-06-01T00:00:00.000Z' });
    const none = await u.create({ title: 'no due date' });
    await u.call({ method: 'PATCH', url: `/tasks/${late.id}`, payload: { status: 'done' } });

    const ids = async (qs: string) => json<{ items: Task[] }>(await u.call({ method: 'GET', url: `/tasks?${qs}` })).items.map((t) => t.id);
    expect(await ids('')).toEqual([none.id, late.id, early.id]);
    expect(await ids('status=done')).toEqual([late.id]);
    expect(await ids('status=todo')).toEqual([none.id, early.id]);
    expect(await ids('dueBefore=2030-03-01T00:00:00Z')).toEqual([early.id]);
    expect(await ids('dueAfter=2030-03-01T00:00:00Z')).toEqual([late.id]);
    expect(await ids('dueAfter=2029-01-01T00:00:00Z&dueBefore=2031-01-01T00:00:00Z&status=todo')).toEqual([early.id]);
  });

  it('when 30 tasks are paged through while more are added between pages, then none is skipped or repeated', async () => {
    const u = await user();
    const original: string[] = [];
    for (let i = 0; i < 30; i++) original.push((await u.create({ title: `task ${i}` })).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const added: string[] = [];
    do {
      const res = await u.call({ method: 'GET', url: `/tasks?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      expect(res.statusCode).toBe(200);
      const page = json<{ items: Task[]; nextCursor: string | null }>(res);
      expect(page.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
      for (let i = 0; i < 3; i++) added.push((await u.create({ title: `added during paging ${pages}.${i}` })).id);
      pages++;
    } while (cursor && pages < 20);

    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...original].reverse());
    expect(pages).toBe(5);
    // The tasks added meanwhile are newer than every cursor, so they start the next listing.
    const fresh = json<{ items: Task[] }>(await u.call({ method: 'GET', url: '/tasks?limit=100' })).items.map((t) => t.id);
    expect(fresh.slice(0, added.length)).toEqual([...added].reverse());
  });

  it('when no limit is given, then a page holds 20 tasks', async () => {
    const u = await user();
    for (let i = 0; i < 21; i++) await u.create({ title: `t${i}` });
    const page = json<{ items: Task[]; nextCursor: string | null }>(await u.call({ method: 'GET', url: '/tasks' }));
    expect(page.items).toHaveLength(20);
    expect(page.nextCursor).toEqual(expect.any(String));
    const last = json<{ items: Task[]; nextCursor: string | null }>(
      await u.call({ method: 'GET', url: `/tasks?cursor=${encodeURIComponent(page.nextCursor!)}` }),
    );
    expect(last.items).toHaveLength(1);
    expect(last.nextCursor).toBeNull();
  });
});

describe('ownership', () => {
  it("when someone asks for another user's task by id, then every verb answers 404 and the task is untouched", async () => {
    const owner = await user();
    const other = await user();
    const task = await owner.create({ title: 'mine', tags: ['private'] });
    const before = await stored(owner.id, task.id);

    for (const opts of [
      { method: 'GET' as const, url: `/tasks/${task.id}` },
      { method: 'PATCH' as const, url: `/tasks/${task.id}`, payload: { title: 'stolen', status: 'done' } },
      { method: 'PATCH' as const, url: `/tasks/${task.id}`, payload: { title: 'stolen' }, headers: { 'if-match': '"1"' } },
      { method: 'DELETE' as const, url: `/tasks/${task.id}` },
      { method: 'DELETE' as const, url: `/tasks/${task.id}`, headers: { 'if-match': '*' } },
    ]) {
      const res = await other.call(opts);
      expect(res.statusCode, `${opts.method} ${res.body}`).toBe(404);
      expect(json(res)).toEqual({ code: 'TASK_ERR_NOT_FOUND', message: expect.any(String) });
    }
    expect(json<{ items: Task[] }>(await other.call({ method: 'GET', url: '/tasks' })).items).toEqual([]);
    // The relay may have sent TaskCreated meanwhile; nothing else may have changed or been queued.
    const { outbox: outboxAfter, ...after } = (await stored(owner.id, task.id))!;
    const { outbox: _outboxBefore, ...unchanged } = before!;
    expect(after).toEqual(unchanged);
    expect(outboxAfter.map((p) => p.event.type)).toEqual(outboxAfter.length ? ['TaskCreated'] : []);
    expect(json(await owner.call({ method: 'GET', url: `/tasks/${task.id}` }))).toEqual(task);
  });

  it('when a request has no valid token, then it is 401 whatever identity headers it carries', async () => {
    const u = await user();
    const task = await u.create();
    const forged = await h.issuer.signRaw({
      sub: u.id,
      role: 'user',
      iss: 'someone-else',
      aud: 'taskmesh',
      exp: Math.floor(Date.now() / 1000) + 60,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
    });
    for (const headers of [{}, { 'x-user-id': u.id }, { authorization: `Bearer ${forged}` }, { authorization: 'Bearer not.a.jwt' }]) {
      const res = await app.inject({ method: 'GET', url: `/tasks/${task.id}`, headers });
      expect(res.statusCode).toBe(401);
      expect(json(res)).toEqual({ code: expect.stringMatching(/^AUTH_ERR_/), message: expect.any(String) });
    }
    const post = await app.inject({ method: 'POST', url: '/tasks', headers: { 'x-user-id': u.id }, payload: { title: 'x' } });
    expect(post.statusCode).toBe(401);
  });
});

describe('idempotent create', () => {
  it('when a create is repeated with the same Idempotency-Key, then one task exists and the repeat returns it', async () => {
    const u = await user();
    const key = randomUUID();
    const body = { title: 'pay rent', tags: ['home'] };
    const first = await u.call({ method: 'POST', url: '/tasks', payload: body, headers: { 'idempotency-key': key } });
    const again = await u.call({
      method: 'POST',
      url: '/tasks',
      payload: { tags: ['home'], title: 'pay rent' },
      headers: { 'idempotency-key': key },
    });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(json(again)).toEqual(json(first));
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await tasks.countDocuments({ ownerId: u.id })).toBe(1);

    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () =>
        u.call({ method: 'POST', url: '/tasks', payload: { title: 'once' }, headers: { 'idempotency-key': `${key}-c` } }),
      ),
    );
    expect(concurrent.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(concurrent.map((r) => json<Task>(r).id)).size).toBe(1);
    expect(await tasks.countDocuments({ ownerId: u.id })).toBe(2);
  });

  it('when the same key comes with another body, from another user, or after the task was deleted, then each case is told apart', async () => {
    const u = await user();
    const other = await user();
    const key = randomUUID();
    const first = json<Task>(await u.call({ method: 'POST', url: '/tasks', payload: { title: 'a' }, headers: { 'idempotency-key': key } }));

    const mismatch = await u.call({ method: 'POST', url: '/tasks', payload: { title: 'b' }, headers: { 'idempotency-key': key } });
    expect(mismatch.statusCode).toBe(422);
    expect(json(mismatch).code).toBe('TASK_ERR_IDEMPOTENCY_KEY_REUSED');

    const theirs = await other.call({ method: 'POST', url: '/tasks', payload: { title: 'a' }, headers: { 'idempotency-key': key } });
    expect(theirs.statusCode).toBe(201);
    expect(json<Task>(theirs).id).not.toBe(first.id);

    await u.call({ method: 'DELETE', url: `/tasks/${first.id}` });
    const gone = await u.call({ method: 'POST', url: '/tasks', payload: { title: 'a' }, headers: { 'idempotency-key': key } });
    // Until the relay has sent TaskDeleted the tombstone remembers the key; afterwards the key is free.
    expect([201, 410]).toContain(gone.statusCode);
    if (gone.statusCode === 201) expect(json<Task>(gone).id).not.toBe(first.id);
  });
});

describe('optimistic concurrency', () => {
  it('when PATCH or DELETE carries a stale If-Match, then 412 and nothing changes; the current ETag goes through', async () => {
    const u = await user();
    const task = await u.create({ title: 'v1' });
    const v2 = await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'v2' }, headers: { 'if-match': '"1"' } });
    expect(v2.statusCode).toBe(200);
    expect(v2.headers.etag).toBe('"2"');

    for (const ifMatch of ['"1"', 'W/"2"', '"1", "3"']) {
      const stale = await u.call({
        method: 'PATCH',
        url: `/tasks/${task.id}`,
        payload: { title: 'lost update' },
        headers: { 'if-match': ifMatch },
      });
      expect(stale.statusCode, ifMatch).toBe(412);
      expect(json(stale).code).toBe('TASK_ERR_PRECONDITION_FAILED');
    }
    const staleDelete = await u.call({ method: 'DELETE', url: `/tasks/${task.id}`, headers: { 'if-match': '"1"' } });
    expect(staleDelete.statusCode).toBe(412);
    expect(await stored(u.id, task.id)).toMatchObject({ title: 'v2', version: 2, deletedAt: null });

    const listed = await u.call({
      method: 'PATCH',
      url: `/tasks/${task.id}`,
      payload: { title: 'v3' },
      headers: { 'if-match': '"7", "2"' },
    });
    expect(listed.statusCode).toBe(200);
    const any = await u.call({ method: 'DELETE', url: `/tasks/${task.id}`, headers: { 'if-match': '*' } });
    expect(any.statusCode).toBe(204);
  });

  it('when two changes race on one version, then exactly one wins and the other gets 412', async () => {
    const u = await user();
    const task = await u.create({ title: 'race' });
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((t) =>
        u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: t }, headers: { 'if-match': '"1"' } }),
      ),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 412, 412, 412]);
    const doc = await stored(u.id, task.id);
    expect(doc?.version).toBe(2);
    expect(doc!.outbox.filter((p) => p.event.type === 'TaskUpdated').length).toBeLessThanOrEqual(1);
  });
});

describe('bad input', () => {
  const cases: [string, Record<string, unknown> | string, number][] = [
    ['an empty title', { title: '' }, 400],
    ['a blank title', { title: '   ' }, 400],
    ['a title over 200 characters', { title: 'x'.repeat(201) }, 400],
    ['a description over 5,000 characters', { title: 't', description: 'x'.repeat(5001) }, 400],
    ['11 tags', { title: 't', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 400],
    ['a tag over 40 characters', { title: 't', tags: ['x'.repeat(41)] }, 400],
    ['a repeated tag', { title: 't', tags: ['a', 'a'] }, 400],
    ['an unknown status', { title: 't', status: 'blocked' }, 400],
    ['a task created done', { title: 't', status: 'done' }, 400],
    ['an ownerId', { title: 't', ownerId: 'someone' }, 400],
    ['a version', { title: 't', version: 9 }, 400],
    ['a createdAt', { title: 't', createdAt: '2020-01-01T00:00:00Z' }, 400],
    ['a completedAt', { title: 't', completedAt: '2020-01-01T00:00:00Z' }, 400],
    ['an id', { title: 't', id: 'aaaaaaaaaaaaaaaaaaaaaaaa' }, 400],
    ['an unknown field', { title: 't', priority: 1 }, 400],
    ['an operator object as the title', { title: { $ne: null } }, 400],
    ['an operator object in the tags', { title: 't', tags: [{ $gt: '' }] }, 400],
    ['an operator object as dueAt', { title: 't', dueAt: { $gt: '2020-01-01' } }, 400],
    ['an operator at the top level', { title: 't', $set: { ownerId: 'x' } }, 400],
    ['an array where a string belongs', { title: ['t'] }, 400],
    ['a number where a string belongs', { title: 5 }, 400],
    ['a dueAt that is not a date', { title: 't', dueAt: 'tomorrow' }, 400],
    ['malformed JSON', '{"title": ', 400],
    ['a __proto__ key', '{"title":"t","__proto__":{"admin":true}}', 400],
    ['a constructor.prototype key', '{"title":"t","constructor":{"prototype":{"x":1}}}', 400],
  ];
  it.each(cases)('when a create carries %s, then it is a 4xx with code and message', async (_name, payload, status) => {
    const u = await user();
    const res = await u.call({
      method: 'POST',
      url: '/tasks',
      payload: payload as string,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode, res.body).toBe(status);
    expect(json(res)).toEqual({ code: expect.any(String), message: expect.any(String) });
    expect(await tasks.countDocuments({ ownerId: u.id })).toBe(0);
  });

  it('when a body is too large or not JSON, then 413 and 415', async () => {
    const u = await user();
    const big = await u.call({ method: 'POST', url: '/tasks', payload: { title: 't', description: 'x'.repeat(70_000) } });
    expect(big.statusCode).toBe(413);
    const text = await u.call({ method: 'POST', url: '/tasks', payload: 'title=t', headers: { 'content-type': 'text/plain' } });
    expect(text.statusCode).toBe(415);
    for (const res of [big, text]) expect(json(res)).toEqual({ code: expect.any(String), message: expect.any(String) });
  });

  it('when a change is empty, carries an operator, or a read-only field, then 400 and the task is untouched', async () => {
    const u = await user();
    const task = await u.create({ title: 'keep' });
    for (const payload of [
      {},
      { title: { $set: 'x' } },
      { version: 5 },
      { ownerId: 'x' },
      { updatedAt: '2020-01-01T00:00:00Z' },
      { status: ['done'] },
    ]) {
      const res = await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await stored(u.id, task.id)).toMatchObject({ title: 'keep', version: 1 });
  });

  it('when an id is not a task id, then every verb answers 400 TASK_ERR_INVALID_ID', async () => {
    const u = await user();
    for (const id of ['abc', '1234', 'zzzzzzzzzzzzzzzzzzzzzzzz', '%24ne', 'AAAAAAAAAAAAAAAAAAAAAAAA', `${'a'.repeat(24)}0`]) {
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const res = await u.call({ method, url: `/tasks/${id}`, ...(method === 'PATCH' ? { payload: { title: 'x' } } : {}) });
        expect(res.statusCode, `${method} ${id}`).toBe(400);
        expect(json(res).code).toBe('TASK_ERR_INVALID_ID');
      }
    }
  });

  it('when a list query is out of range, carries an operator or a cursor we did not issue, then 400', async () => {
    const u = await user();
    const other = await user();
    for (let i = 0; i < 3; i++) await u.create({ title: `t${i}` });
    const page = json<{ nextCursor: string }>(await u.call({ method: 'GET', url: '/tasks?limit=1' }));
    const [body, mac] = page.nextCursor.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ t: Date.now() + 1e9, i: 'f'.repeat(24) })).toString('base64url');

    const bad: [string, string][] = [
      ['limit=0', 'ERR_VALIDATION'],
      ['limit=101', 'ERR_VALIDATION'],
      ['limit=abc', 'ERR_VALIDATION'],
      ['limit=1.5', 'ERR_VALIDATION'],
      ['limit=1&limit=2', 'ERR_VALIDATION'],
      ['status=blocked', 'ERR_VALIDATION'],
      ['status[$ne]=done', 'ERR_VALIDATION'],
      ['ownerId=someone', 'ERR_VALIDATION'],
      ['dueBefore=yesterday', 'ERR_VALIDATION'],
      ['dueAfter=2030-01-02T00:00:00Z&dueBefore=2030-01-01T00:00:00Z', 'TASK_ERR_INVALID_QUERY'],
      ['cursor=garbage', 'TASK_ERR_INVALID_CURSOR'],
      [`cursor=${forgedBody}.${mac}`, 'TASK_ERR_INVALID_CURSOR'],
      [`cursor=${body}.${Buffer.alloc(32).toString('base64url')}`, 'TASK_ERR_INVALID_CURSOR'],
      [`cursor=${encodeURIComponent('{"$gt":""}')}`, 'TASK_ERR_INVALID_CURSOR'],
    ];
    for (const [qs, code] of bad) {
      const res = await u.call({ method: 'GET', url: `/tasks?${qs}` });
      expect(res.statusCode, qs).toBe(400);
      expect(json(res).code, qs).toBe(code);
    }
    const stolen = await other.call({ method: 'GET', url: `/tasks?cursor=${encodeURIComponent(page.nextCursor)}` });
    expect(stolen.statusCode).toBe(400);
    expect(json(stolen).code).toBe('TASK_ERR_INVALID_CURSOR');
  });

  it('when If-Match or Idempotency-Key is malformed, then 400', async () => {
    const u = await user();
    const task = await u.create();
    const ifMatch = await u.call({ method: 'PATCH', url: `/tasks/${task.id}`, payload: { title: 'x' }, headers: { 'if-match': '1' } });
    expect(ifMatch.statusCode).toBe(400);
    expect(json(ifMatch).code).toBe('TASK_ERR_INVALID_IF_MATCH');
    const key = await u.call({ method: 'POST', url: '/tasks', payload: { title: 'x' }, headers: { 'idempotency-key': 'x'.repeat(300) } });
    expect(key.statusCode).toBe(400);
  });
});

describe('service surface', () => {
  it('when the probes, metrics and OpenAPI document are read, then each answers', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(json<{ checks: Record<string, unknown> }>(ready).checks).toHaveProperty('mongo');

    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^task_outbox_backlog\{service="task"\} \d+$/m);
    expect(metrics.body).toContain('task_outbox_published_total');

    const doc = json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      await app.inject({ method: 'GET', url: '/docs/json' }),
    );
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/tasks', '/tasks/{id}']);
    expect(Object.keys(doc.paths['/tasks/{id}']!).sort()).toEqual(['delete', 'get', 'patch']);
  });
});

describe('shard-key watcher', () => {
  it('when a command on the tasks collection lacks ownerId, then the watcher reports it', async () => {
    const probe = new ShardKeyWatcher(h.config.MONGODB_DB);
    const base = { databaseName: h.config.MONGODB_DB } as const;
    probe.check({ ...base, commandName: 'find', command: { find: 'tasks', filter: { _id: 1 } } } as never);
    probe.check({
      ...base,
      commandName: 'update',
      command: { update: 'tasks', updates: [{ q: { ownerId: { $exists: true } }, u: {} }] },
    } as never);
    probe.check({ ...base, commandName: 'find', command: { find: 'tasks', filter: { ownerId: 'u', _id: 1 } } } as never);
    probe.check({ ...base, commandName: 'createIndexes', command: { createIndexes: 'tasks', indexes: [] } } as never);
    expect(probe.violations).toHaveLength(2);
  });

  // Order-independent: this test's own commands prove the watcher listens, and the harness fails
  // the file at close if any command of any test did not name its owner.
  it('when commands run on the tasks collection, then the watcher sees them and every one named one owner', async () => {
    expect(await h.watchedCommands(app)).toBeGreaterThan(0);
    expect(h.watcher.violations).toEqual([]);
  });
});
