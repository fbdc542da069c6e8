import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/infra-lib.mjs';

// These tests check the scripts themselves (what they send, count, and decide) against a small
// HTTP server on 127.0.0.1 that follows the public API contract of the gateway and can be told to
// break it in one way at a time. The real system is checked by the same scripts in the kind
// end-to-end job and by `npm run smoke` against `npm start`.

const ROOT = path.resolve(import.meta.dirname, '..');

interface Faults {
  /** login answers 500 */
  loginFails?: boolean;
  /** analytics never counts completions */
  analyticsMissesCompletions?: boolean;
  /** every n-th GET /tasks answers 500 */
  failEveryNthList?: number;
  /** every request answers 503 until this time (ms since epoch) */
  unavailableUntil?: number;
  /** after this many GET /tasks, the file is created (a stand-in for "the HPA scaled") */
  touchAfterLists?: { count: number; file: string };
}

interface Task {
  id: string;
  ownerId: string;
  title: string;
  description?: string;
  status: string;
  version: number;
  deleted?: boolean;
}

class PublicApi {
  faults: Faults = {};
  requests = 0;
  failures = 0;
  lists = 0;
  private users = new Map<string, { id: string; email: string; password: string }>();
  private tasks = new Map<string, Task>();
  private stats = new Map<string, { tasksCreated: number; tasksCompleted: number; tasksDeleted: number; tasksOpen: number }>();
  private server = http.createServer((req, res) => void this.handle(req, res));
  url = '';

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  reset() {
    this.faults = {};
    this.requests = 0;
    this.failures = 0;
    this.lists = 0;
  }

  // Analytics learns about changes through events, so its counters lag the writes a little.
  private count(userId: string, change: Partial<Record<'tasksCreated' | 'tasksCompleted' | 'tasksDeleted' | 'tasksOpen', number>>) {
    setTimeout(() => {
      const s = this.stats.get(userId) ?? { tasksCreated: 0, tasksCompleted: 0, tasksDeleted: 0, tasksOpen: 0 };
      for (const [k, v] of Object.entries(change)) s[k as keyof typeof s] += v;
      this.stats.set(userId, s);
    }, 300);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/__unavailable') {
      this.faults.unavailableUntil = Date.now() + Number(url.searchParams.get('ms'));
      return res.writeHead(204).end();
    }
    this.requests += 1;
    let body = '';
    for await (const chunk of req) body += chunk;
    const json = body ? JSON.parse(body) : undefined;
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      if (status >= 400 && status !== 401 && status !== 404 && status !== 409 && status !== 412) this.failures += 1;
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID(), ...headers });
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
    };
    const error = (status: number, code: string) => send(status, { code, message: code.toLowerCase().replaceAll('_', ' ') });

    if (this.faults.unavailableUntil && Date.now() < this.faults.unavailableUntil) return error(503, 'UPSTREAM_UNAVAILABLE');
    const route = `${req.method} ${url.pathname.replace(/^\/tasks\/[^/]+$/, '/tasks/:id')}`;
    if (route === 'GET /health/ready' || route === 'GET /health/live') return send(200, { status: 'ok' });
    if (route === 'POST /auth/register') {
      if (this.users.has(json.email)) return error(409, 'AUTH_ERR_EMAIL_TAKEN');
      const user = { id: randomUUID(), email: json.email, password: json.password };
      this.users.set(user.email, user);
      return send(201, { id: user.id, email: user.email, role: 'user', createdAt: new Date().toISOString() });
    }
    if (route === 'POST /auth/login') {
      if (this.faults.loginFails) return error(500, 'INTERNAL');
      const user = this.users.get(json.email);
      if (!user || user.password !== json.password) return error(401, 'AUTH_ERR_INVALID_CREDENTIALS');
      return send(200, { accessToken: `at-${user.id}`, refreshToken: `rt-${user.id}`, tokenType: 'Bearer', expiresIn: 900 });
    }

    const userId = /^Bearer at-(.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const user = [...this.users.values()].find((u) => u.id === userId);
    if (!user) return error(401, 'GATEWAY_ERR_UNAUTHENTICATED');
    const task = this.tasks.get(url.pathname.split('/')[2] ?? '');
    const mine = task && task.ownerId === user.id && !task.deleted ? task : undefined;
    const etag = (t: Task) => ({ etag: `"${t.version}"` });

    switch (route) {
      case 'GET /auth/me':
        return send(200, { id: user.id, email: user.email, role: 'user' });
      case 'POST /tasks': {
        const t: Task = {
          id: randomUUID(),
          ownerId: user.id,
          title: json.title,
          description: json.description,
          status: 'todo',
          version: 1,
        };
        this.tasks.set(t.id, t);
        this.count(user.id, { tasksCreated: 1, tasksOpen: 1 });
        return send(201, t, etag(t));
      }
      case 'GET /tasks': {
        this.lists += 1;
        const touch = this.faults.touchAfterLists;
        if (touch && this.lists >= touch.count) fs.writeFileSync(touch.file, 'scaled');
        const n = this.faults.failEveryNthList;
        if (n && this.lists % n === 0) return error(500, 'INTERNAL');
        const items = [...this.tasks.values()].filter((t) => t.ownerId === user.id && !t.deleted).slice(0, 100);
        return send(200, { items, nextCursor: null });
      }
      case 'GET /tasks/:id':
        return mine ? send(200, mine, etag(mine)) : error(404, 'TASK_ERR_NOT_FOUND');
      case 'PATCH /tasks/:id': {
        if (!mine) return error(404, 'TASK_ERR_NOT_FOUND');
        const ifMatch = req.headers['if-match'];
        if (ifMatch && ifMatch !== `"${mine.version}"`) return error(412, 'TASK_ERR_VERSION_MISMATCH');
        if (json.status === 'done' && mine.status !== 'done' && !this.faults.analyticsMissesCompletions) {
          this.count(user.id, { tasksCompleted: 1, tasksOpen: -1 });
        }
        Object.assign(mine, json, { version: mine.version + 1 });
        return send(200, mine, etag(mine));
      }
      case 'DELETE /tasks/:id': {
        if (!mine) return error(404, 'TASK_ERR_NOT_FOUND');
        mine.deleted = true;
        this.count(user.id, { tasksDeleted: 1, tasksOpen: mine.status === 'done' ? 0 : -1 });
        return res.writeHead(204).end();
      }
      case 'GET /analytics/me':
        return send(200, this.stats.get(user.id) ?? { tasksCreated: 0, tasksCompleted: 0, tasksDeleted: 0, tasksOpen: 0 });
      default:
        return error(404, 'NOT_FOUND');
    }
  }
}

/** Runs one of the scripts as a child process, the way CI and people run it. */
function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', script), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const jsonLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

describe('traffic scripts against an HTTP server that follows the public API', () => {
  const api = new PublicApi();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-traffic-'));

  beforeAll(() => api.start());
  afterAll(async () => {
    await api.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  afterEach(() => api.reset());

  it('when the API keeps its contract, then the smoke test passes every step, including the analytics wait', async () => {
    const r = await runScript('smoke.mjs', [], { BASE_URL: api.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const step of [
      'register',
      'log in',
      'create 3 tasks',
      'list them',
      'complete one',
      'a stale If-Match is refused',
      'delete one',
      'analytics counted them',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`ok +${step}`));
    }
    expect(r.stdout).toMatch(/smoke test passed/);
  });

  it('when login answers 500, then the smoke test exits 1 naming the step and the request id', async () => {
    api.faults.loginFails = true;
    const r = await runScript('smoke.mjs', ['--base-url', api.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /step "log in \(POST \/auth\/login\)" failed: log in: expected 200, got POST \/auth\/login -> 500 .*x-request-id [0-9a-f-]{36}/,
    );
  });

  it('when analytics never counts the completed task, then the smoke test exits 1 with what it saw after its time limit', async () => {
    api.faults.analyticsMissesCompletions = true;
    const r = await runScript('smoke.mjs', ['--analytics-timeout', '2'], { BASE_URL: api.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('step "analytics counted them (GET /analytics/me)" failed');
    expect(r.stderr).toContain('"tasksCompleted":0');
  });

  it('when BASE_URL is not a URL, then the smoke test exits 2 with usage', async () => {
    const r = await runScript('smoke.mjs', [], { BASE_URL: 'not a url' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BASE_URL is not a URL/);
  });

  it('when load runs 4 workers for 2 s, then its request count matches the server and it reports rate and percentiles', async () => {
    const r = await runScript('load.mjs', ['--base-url', api.url, '--concurrency', '4', '--duration', '2', '--json']);
    expect(r.code).toBe(0);
    const s = jsonLine(r.stdout);
    // register and log in come before the measured run
    expect(s.requests).toBe(api.requests - 2);
    expect(s.failed).toBe(0);
    expect(s.rps).toBeGreaterThan(0);
    expect(s.p50Ms).toBeLessThanOrEqual(s.p99Ms);
    expect(r.stdout).toMatch(/rate +[\d.]+ req\/s/);
  });

  it('when every 10th list fails, then load counts exactly the failures the server sent and exits 1', async () => {
    api.faults.failEveryNthList = 10;
    const r = await runScript('load.mjs', ['--base-url', api.url, '--scenario', 'read', '-c', '2', '-d', '1', '--json']);
    const s = jsonLine(r.stdout);
    expect(r.code).toBe(1);
    expect(s.failed).toBe(api.failures);
    expect(s.failed).toBe(Math.floor(api.lists / 10));
    expect(s.failuresByKind).toEqual({ 500: api.failures });
    expect(r.stdout).toMatch(/load FAILED: [\d.]+% of requests failed/);
  });

  it('when the --until command starts succeeding mid-run, then load stops early and passes; when it never does, load exits 3', async () => {
    const marker = path.join(tmp, `scaled-${randomUUID()}`);
    api.faults.touchAfterLists = { count: 50, file: marker };
    const met = await runScript('load.mjs', [
      '--base-url',
      api.url,
      '-c',
      '2',
      '-d',
      '20',
      '--until',
      `test -f ${marker}`,
      '--until-interval',
      '0.3',
      '--json',
    ]);
    expect(met.code).toBe(0);
    expect(jsonLine(met.stdout)).toMatchObject({ untilMet: true, failed: 0 });
    expect(jsonLine(met.stdout).seconds).toBeLessThan(20);

    const never = await runScript('load.mjs', [
      '--base-url',
      api.url,
      '-c',
      '1',
      '-d',
      '1',
      '--until',
      'false',
      '--until-interval',
      '0.3',
      '--json',
    ]);
    expect(never.code).toBe(3);
    expect(jsonLine(never.stdout).untilMet).toBe(false);
  });

  it('when the command runs under steady load and nothing fails, then the rollout check passes', async () => {
    const r = await runScript('rollout-check.mjs', [
      '--base-url',
      api.url,
      '--rps',
      '50',
      '--warmup',
      '0.5',
      '--settle',
      '0.5',
      '--command',
      'sleep 1',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const s = jsonLine(r.stdout);
    expect(s.failed).toBe(0);
    // The rate is capped at 50 a second over however long the run took on this machine; the
    // lower bound only says the load kept going while the command ran.
    expect(s.requests).toBeLessThanOrEqual(Math.ceil(50 * s.seconds) + 5);
    expect(s.requests).toBeGreaterThan(25 * s.seconds);
    expect(s.requests).toBe(api.requests - 2);
  });

  it('when the command makes the API unavailable for a moment, then the rollout check exits 1 and lists the failed requests', async () => {
    const command = `${process.execPath} -e "fetch('${api.url}/__unavailable?ms=400').then(() => setTimeout(() => {}, 500))"`;
    const r = await runScript('rollout-check.mjs', [
      '--base-url',
      api.url,
      '--scenario',
      'read',
      '--rps',
      '50',
      '--warmup',
      '0.5',
      '--settle',
      '0.5',
      '--command',
      command,
      '--json',
    ]);
    expect(r.code).toBe(1);
    const s = jsonLine(r.stdout);
    expect(s.failed).toBe(api.failures);
    expect(s.failed).toBeGreaterThan(0);
    expect(s.failuresByKind).toEqual({ 503: api.failures });
    expect(r.stdout).toMatch(/failed requests:\n +\+[\d.]+s GET \/tasks\?limit=20 -> 503/);
  });

  it('when the command itself fails, then the rollout check exits 4', async () => {
    const r = await runScript('rollout-check.mjs', [
      '--base-url',
      api.url,
      '--scenario',
      'health',
      '--warmup',
      '0',
      '--settle',
      '0',
      '--command',
      'exit 7',
    ]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/rollout check FAILED: the command exited 7/);
  });
});

describe('the smoke test against the real system', () => {
  it('when `npm start` brings the four services up, then `npm run smoke` passes through their gateway', async () => {
    for (const ws of ['gateway', 'services/auth', 'services/task', 'services/analytics']) {
      expect(fs.existsSync(path.join(ROOT, ws, 'dist', 'server.js')), `${ws} is not built: run \`npm run build\``).toBe(true);
    }
    const ports = {
      AUTH_PORT: await freePort(),
      TASK_PORT: await freePort(),
      ANALYTICS_PORT: await freePort(),
      GATEWAY_PORT: await freePort(),
    };
    const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-smoke-keys-'));
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
        AUTH_KEY_DIR: keys,
        // Counters of their own, so that other tests sharing Redis and 127.0.0.1 cannot use up
        // the 5-a-minute register and login limits the smoke test runs under.
        RATE_LIMIT_KEY_PREFIX: `smoke-${randomUUID()}:`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 90_000;
      while (!out.includes('taskmesh is up') && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 200));
      expect(out, out.slice(-3000)).toContain('taskmesh is up');

      const r = await runScript('smoke.mjs', ['--analytics-timeout', '90'], { BASE_URL: `http://127.0.0.1:${ports.GATEWAY_PORT}` });
      expect(r.code, `${r.stdout}${r.stderr}\n--- services ---\n${out.slice(-3000)}`).toBe(0);
      expect(r.stdout).toMatch(/ok +analytics counted them .*"tasksCreated":3,"tasksCompleted":1,"tasksDeleted":1,"tasksOpen":1/);
    } finally {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(keys, { recursive: true, force: true });
    }
  }, 240_000);
});
