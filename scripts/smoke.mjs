#!/usr/bin/env node
// `npm run smoke`: one pass through the public API of a running system, as a new user would make
// it: register, log in, create tasks, list them, complete one, delete one, and wait until the
// analytics service has counted exactly that. Any deviation from the contract stops the run with
// a message that names the step and shows the exchange (status, body, x-request-id for the logs).
//
//   BASE_URL=http://127.0.0.1:8080 node scripts/smoke.mjs [--analytics-timeout 60] [--request-timeout 10]
//
// Exit codes: 0 passed, 1 the system deviated from its contract, 2 bad usage.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApiClient,
  Deviation,
  UsageError,
  baseUrlFrom,
  expectStatus,
  numberOption,
  poll,
  randomPassword,
  summarize,
  uniqueEmail,
} from './traffic-lib.mjs';

const HELP = `usage: node scripts/smoke.mjs [options]

  --base-url URL            the gateway (default: $BASE_URL or http://127.0.0.1:8080)
  --ready-timeout S         wait this long for GET /health/ready to answer 200 (default 30)
  --analytics-timeout S     wait this long for /analytics/me to count the changes (default 60)
  --request-timeout S       one request's limit (default 10)
`;

/**
 * @param {{ baseUrl: string, readyTimeoutMs?: number, analyticsTimeoutMs?: number, requestTimeoutMs?: number,
 *   log?: (line: string) => void }} opts
 */
export async function smoke({
  baseUrl,
  readyTimeoutMs = 30_000,
  analyticsTimeoutMs = 60_000,
  requestTimeoutMs = 10_000,
  log = console.log,
}) {
  const anon = new ApiClient(baseUrl, { timeoutMs: requestTimeoutMs });
  const t0 = performance.now();
  let current = '';
  const step = async (name, fn) => {
    current = name;
    const s0 = performance.now();
    const detail = await fn();
    log(`  ok   ${name.padEnd(46)} ${String(Math.round(performance.now() - s0)).padStart(6)} ms${detail ? `  ${detail}` : ''}`);
  };

  log(`smoke test against ${baseUrl}`);
  try {
    await step('gateway ready (GET /health/ready)', async () => {
      let last;
      const ready = await poll(
        async () => {
          last = await anon.request('GET', '/health/ready', { auth: false });
          return last.status === 200;
        },
        { timeoutMs: readyTimeoutMs, intervalMs: 1000 },
      );
      if (!ready) throw new Deviation(`not ready within ${readyTimeoutMs / 1000} s; last answer: ${summarize(last)}`);
    });

    const email = uniqueEmail('smoke');
    const password = randomPassword();
    await step('register (POST /auth/register)', async () => {
      const x = expectStatus(await anon.request('POST', '/auth/register', { body: { email, password } }), 201, 'register');
      if (x.body?.email !== email) throw new Deviation(`register: the answer does not carry the email ${email}: ${summarize(x)}`);
      if ('password' in x.body || 'passwordHash' in x.body)
        throw new Deviation(`register: the answer leaks a password field: ${summarize(x)}`);
      return email;
    });

    let api;
    await step('log in (POST /auth/login)', async () => {
      const x = expectStatus(await anon.request('POST', '/auth/login', { body: { email, password } }), 200, 'log in');
      const { accessToken, refreshToken, tokenType, expiresIn } = x.body ?? {};
      if (
        typeof accessToken !== 'string' ||
        typeof refreshToken !== 'string' ||
        typeof expiresIn !== 'number' ||
        String(tokenType).toLowerCase() !== 'bearer'
      ) {
        throw new Deviation(`log in: expected { accessToken, refreshToken, tokenType: "Bearer", expiresIn }, got ${summarize(x)}`);
      }
      api = new ApiClient(baseUrl, { timeoutMs: requestTimeoutMs, token: accessToken });
    });

    await step('who am I (GET /auth/me)', async () => {
      const x = expectStatus(await api.request('GET', '/auth/me'), 200, 'who am I');
      if (x.body?.email !== email) throw new Deviation(`who am I: expected email ${email}, got ${summarize(x)}`);
    });

    await step('no token is refused (GET /tasks)', async () => {
      const x = expectStatus(await anon.request('GET', '/tasks', { auth: false }), 401, 'GET /tasks without a token');
      if (typeof x.body?.code !== 'string' || typeof x.body?.message !== 'string') {
        throw new Deviation(`GET /tasks without a token: expected a { code, message } body, got ${summarize(x)}`);
      }
    });

    const titles = ['smoke: write the report', 'smoke: review the change', 'smoke: water the plants'];
    /** @type {Array<{ id: string, etag: string, version: number }>} */
    const created = [];
    await step(`create ${titles.length} tasks (POST /tasks)`, async () => {
      const dueAt = new Date(Date.now() + 86_400_000).toISOString();
      for (const [i, title] of titles.entries()) {
        const body = i === 0 ? { title, description: 'made by the smoke test', dueAt, tags: ['smoke'] } : { title };
        const x = expectStatus(await api.request('POST', '/tasks', { body }), 201, `create task ${i + 1}`);
        const task = x.body ?? {};
        const etag = x.headers?.get('etag');
        if (typeof task.id !== 'string' || task.title !== title)
          throw new Deviation(`create task ${i + 1}: expected a task with an id and title ${JSON.stringify(title)}, got ${summarize(x)}`);
        if (typeof task.version !== 'number') throw new Deviation(`create task ${i + 1}: expected a numeric version, got ${summarize(x)}`);
        if (task.status === 'done') throw new Deviation(`create task ${i + 1}: a new task is already done: ${summarize(x)}`);
        if (!etag) throw new Deviation(`create task ${i + 1}: no ETag header on ${summarize(x)}`);
        created.push({ id: task.id, etag, version: task.version });
      }
      return created.map((t) => t.id).join(' ');
    });

    await step('list them (GET /tasks)', async () => {
      const x = expectStatus(await api.request('GET', '/tasks?limit=100'), 200, 'list tasks');
      const items = x.body?.items;
      if (!Array.isArray(items) || !('nextCursor' in (x.body ?? {})))
        throw new Deviation(`list tasks: expected { items, nextCursor }, got ${summarize(x)}`);
      const ids = new Set(items.map((t) => t.id));
      const missing = created.filter((t) => !ids.has(t.id)).map((t) => t.id);
      if (missing.length > 0 || items.length !== created.length) {
        throw new Deviation(
          `list tasks: expected exactly the ${created.length} new tasks, got ${items.length} (missing ${missing.join(', ') || 'none'})`,
        );
      }
    });

    const [done, removed, kept] = created;
    await step('complete one (PATCH /tasks/:id status done)', async () => {
      const x = expectStatus(
        await api.request('PATCH', `/tasks/${done.id}`, { body: { status: 'done' }, headers: { 'if-match': done.etag } }),
        200,
        'complete a task',
      );
      if (x.body?.status !== 'done') throw new Deviation(`complete a task: expected status "done", got ${summarize(x)}`);
      if (!(x.body?.version > done.version))
        throw new Deviation(`complete a task: expected the version to grow past ${done.version}, got ${summarize(x)}`);
      const again = expectStatus(await api.request('GET', `/tasks/${done.id}`), 200, 'read the completed task');
      if (again.body?.status !== 'done') throw new Deviation(`read the completed task: expected status "done", got ${summarize(again)}`);
    });

    await step('a stale If-Match is refused (PATCH /tasks/:id)', async () => {
      // The ETag from before the completion is stale now: the write must be refused, not applied.
      const x = await api.request('PATCH', `/tasks/${done.id}`, { body: { status: 'in_progress' }, headers: { 'if-match': done.etag } });
      expectStatus(x, 412, 'PATCH with a stale If-Match');
      const after = expectStatus(await api.request('GET', `/tasks/${done.id}`), 200, 'read the task after the refused write');
      if (after.body?.status !== 'done') throw new Deviation(`a refused write changed the task: ${summarize(after)}`);
    });

    await step('delete one (DELETE /tasks/:id)', async () => {
      expectStatus(await api.request('DELETE', `/tasks/${removed.id}`), 204, 'delete a task');
      const gone = expectStatus(await api.request('GET', `/tasks/${removed.id}`), 404, 'read the deleted task');
      if (typeof gone.body?.code !== 'string')
        throw new Deviation(`read the deleted task: expected a { code, message } body, got ${summarize(gone)}`);
    });

    await step('list again (GET /tasks)', async () => {
      const x = expectStatus(await api.request('GET', '/tasks?limit=100'), 200, 'list tasks again');
      const items = x.body?.items ?? [];
      const byId = new Map(items.map((t) => [t.id, t]));
      if (items.length !== 2 || !byId.has(done.id) || !byId.has(kept.id) || byId.has(removed.id)) {
        throw new Deviation(
          `list tasks again: expected ${done.id} and ${kept.id} only, got ${items.map((t) => t.id).join(', ') || 'none'}`,
        );
      }
      if (byId.get(done.id).status !== 'done') throw new Deviation(`list tasks again: ${done.id} is ${byId.get(done.id).status}, not done`);
    });

    const expected = { tasksCreated: 3, tasksCompleted: 1, tasksDeleted: 1, tasksOpen: 1 };
    await step('analytics counted them (GET /analytics/me)', async () => {
      let last;
      const matched = await poll(
        async () => {
          last = await api.request('GET', '/analytics/me');
          if (last.status !== 200) return false;
          return Object.entries(expected).every(([k, v]) => last.body?.[k] === v);
        },
        { timeoutMs: analyticsTimeoutMs, intervalMs: 500 },
      );
      if (!matched) {
        const seen =
          last?.status === 200
            ? JSON.stringify(Object.fromEntries(Object.keys(expected).map((k) => [k, last.body?.[k]])))
            : summarize(last);
        throw new Deviation(`analytics: expected ${JSON.stringify(expected)} within ${analyticsTimeoutMs / 1000} s, last seen ${seen}`);
      }
      return JSON.stringify(expected);
    });
  } catch (err) {
    if (err instanceof Deviation) {
      err.message = `step "${current}" failed: ${err.message}`;
    }
    throw err;
  }
  log(`smoke test passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      'ready-timeout': { type: 'string' },
      'analytics-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const baseUrl = baseUrlFrom(values['base-url']);
  const seconds = (name, fallback, max) => 1000 * numberOption(name, values[name], fallback, { min: 1, max });
  await smoke({
    baseUrl,
    readyTimeoutMs: seconds('ready-timeout', 30, 600),
    analyticsTimeoutMs: seconds('analytics-timeout', 60, 600),
    requestTimeoutMs: seconds('request-timeout', 10, 120),
  });
  return 0;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      const code = err instanceof UsageError || String(err?.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
      process.stderr.write(`\nsmoke test FAILED: ${err.message}\n`);
      if (code === 2) process.stderr.write(`\n${HELP}`);
      process.exit(code);
    },
  );
}
