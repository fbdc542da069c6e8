#!/usr/bin/env node
// `npm run bench:system`: the whole system measured end to end in one run, each figure beside
// its baseline from the same run. It starts its own gateway, auth, task and analytics (on free
// ports, with databases, topics and a consumer group of their own, against the local
// infrastructure), or measures a running system at BASE_URL. Loopback only, bounded: about five
// minutes with the defaults, never more than ten (BENCH_DEADLINE_S).
//
// Rows: the raw store (the Node driver's findOne({ _id, ownerId }) and insertOne, the floor the
// services build on); GET /tasks/:id and GET /tasks?limit=20 on the task service and through the
// gateway; POST /tasks and PATCH /tasks/:id through the gateway; the cache-aside candidates
// GET /auth/me, GET /analytics/me and GET /analytics/overview through the gateway, beside
// findOne and a raw Redis GET. Each at saturation (rps) and at
// one fixed rate (p50/p99), with the CPU time each process spent per request (from /proc) and its
// RSS. Then events (a burst of creates until analytics has counted them all; write-to-visible at a
// steady rate), idle CPU and RSS after 30 s without traffic, and the read rows with tracing off.
//
// Per-user rate limits stay on: every request through the gateway is counted in Redis. The load
// is spread over BENCH_USERS users, and the gateway started here allows each of them
// BENCH_USER_LIMIT requests a minute so that the count is made but not hit (against BASE_URL the
// system's own limit applies and 429s show in the non-2xx column).
//
// Rows compared with each other run round-robin, BENCH_ROUNDS (3) times, and the medians are
// printed, so that a change in the machine's load touches every row alike; the tracing rows
// compare the traced pair with a second task service and gateway started without the preload.
//
// Settings: BENCH_USERS (100), BENCH_DURATION_S (3, per saturation run), BENCH_RATE (200
// requests/s for the latency runs), BENCH_CONNECTIONS (32), BENCH_BURST (2000), BENCH_STEADY_RATE
// (100 creates/s) and BENCH_STEADY_S (10), BENCH_IDLE_S (30), BENCH_CPU_PROF=1 (services write
// --cpu-prof profiles into the run's folder), BENCH_SKIP (comma-separated: events, load, idle,
// tracing, cache). OTEL_* variables are passed on to the services (e.g. OTEL_NODE_DISABLED_INSTRUMENTATIONS), and
// CACHE_TTL_SECONDS (0 measures auth and analytics without their Redis caches).
// Against a running system: BASE_URL (the gateway), TASK_URL (the task service, for the direct
// rows), ANALYTICS_MONGODB_URI / ANALYTICS_DB (where analytics keeps user_stats), MONGODB_URI,
// BENCH_ADMIN_TOKEN (an admin's access token, for the overview row; without it the row is left out).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { MongoClient, ObjectId } from 'mongodb';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { ROOT, freePort, stackConfig, status } from './infra-lib.mjs';
import { NODE_RUNTIME_ENV } from './node-runtime.mjs';

const setting = (name, def) => (process.env[name] === undefined || process.env[name] === '' ? def : Number(process.env[name]));
const USERS = setting('BENCH_USERS', 100);
const DURATION = setting('BENCH_DURATION_S', 3);
const ROUNDS = setting('BENCH_ROUNDS', 3);
const RATE = setting('BENCH_RATE', 200);
const CONNECTIONS = setting('BENCH_CONNECTIONS', 32);
const BURST = setting('BENCH_BURST', 2000);
const STEADY_RATE = setting('BENCH_STEADY_RATE', 100);
const STEADY_S = setting('BENCH_STEADY_S', 10);
const IDLE_S = setting('BENCH_IDLE_S', 30);
const USER_LIMIT = setting('BENCH_USER_LIMIT', 1_000_000);
const DEADLINE_S = setting('BENCH_DEADLINE_S', 600);
const SEED_PER_USER = 5;
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
const EXTERNAL = Boolean(process.env.BASE_URL);

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
const say = (msg) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = t0 + DEADLINE_S * 1000;
function checkDeadline(what) {
  if (Date.now() > deadline) throw new Error(`the run passed its ${DEADLINE_S} s bound before ${what}`);
}

const RUN = `bench${Date.now().toString(36)}`;
const RUN_DIR = path.join(os.tmpdir(), 'taskmesh-bench', RUN);
fs.mkdirSync(RUN_DIR, { recursive: true });

// ---------------------------------------------------------------------------------------------
// Processes: CPU and RSS from /proc

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process in microseconds, or undefined when it cannot be read. */
function cpuMicros(pid) {
  if (!pid) return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Resident set size in MiB. */
function rssMiB(pid) {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The processes whose CPU is charged to each request: ours, and the store (shared with others). */
const watched = new Map();
function cpuSnapshot() {
  const snap = new Map();
  for (const [name, pid] of watched) snap.set(name, cpuMicros(pid));
  return snap;
}
function cpuDelta(before, after) {
  const d = new Map();
  for (const [name, v] of before) {
    const w = after.get(name);
    d.set(name, v === undefined || w === undefined ? undefined : w - v);
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// The system under test

const infra = stackConfig();
const children = new Map();

async function launchService(svc, env, { tracing }) {
  const args = [];
  if (tracing) args.push('--import', '@taskmesh/telemetry/register');
  // A folder per process: the main thread's profile is the one whose name has thread id 0 (the
  // preload's loader hooks run on a thread of their own and write a second one).
  if (CPU_PROF) args.push('--cpu-prof', `--cpu-prof-dir=${path.join(RUN_DIR, `profile-${svc.name}-${tracing ? 'traced' : 'untraced'}`)}`);
  args.push(path.join(ROOT, svc.dir, 'dist', 'server.js'));
  const log = fs.openSync(path.join(RUN_DIR, `${svc.name}.log`), 'a');
  const child = spawn(process.execPath, args, {
    cwd: path.join(ROOT, svc.dir),
    env: { ...env, ...NODE_RUNTIME_ENV, PORT: String(svc.port), ...(tracing ? {} : { OTEL_SDK_DISABLED: 'true' }) },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  children.set(svc.name, child);
  watched.set(svc.name, child.pid);
  child.once('exit', (code, signal) => {
    if (children.get(svc.name) === child) {
      children.delete(svc.name);
      if (!stopping) say(`${svc.name} exited (${signal ?? `code ${code}`}); its log: ${path.join(RUN_DIR, `${svc.name}.log`)}`);
    }
  });
  const url = `http://127.0.0.1:${svc.port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    if (children.get(svc.name) !== child) throw new Error(`${svc.name} exited before it was ready (log: ${path.join(RUN_DIR, `${svc.name}.log`)})`);
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return url;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${svc.name} was not ready within 60 s (log: ${path.join(RUN_DIR, `${svc.name}.log`)})`);
    await sleep(200);
  }
}

let stopping = false;
async function stopService(name) {
  const child = children.get(name);
  if (!child) return;
  children.delete(name);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function startSystem() {
  const ports = { auth: await freePort(), task: await freePort(), analytics: await freePort(), gateway: await freePort() };
  const url = (name) => `http://127.0.0.1:${ports[name]}`;
  const common = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('OTEL_') || name === 'CACHE_TTL_SECONDS')),
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    HOST: '127.0.0.1',
    REDIS_URL: infra.redisUrl,
    KAFKA_BROKERS: infra.kafkaBrokers,
    MONGODB_URI: infra.mongodbUri,
    JWKS_URL: `${url('auth')}/.well-known/jwks.json`,
  };
  const services = {
    auth: {
      name: 'auth',
      dir: 'services/auth',
      port: ports.auth,
      env: { ...common, MONGODB_DB: `${RUN}_auth`, AUTH_KEY_DIR: path.join(RUN_DIR, 'auth-keys'), ADMIN_EMAILS: ADMIN_EMAIL },
    },
    task: {
      name: 'task',
      dir: 'services/task',
      port: ports.task,
      env: {
        ...common,
        MONGODB_DB: `${RUN}_task`,
        TASK_EVENTS_TOPIC: `${RUN}.task-events`,
        CURSOR_SECRET: `${RUN}-cursor-secret-for-this-run-only-000000`,
      },
    },
    analytics: {
      name: 'analytics',
      dir: 'services/analytics',
      port: ports.analytics,
      env: {
        ...common,
        MONGODB_DB: `${RUN}_analytics`,
        TASK_EVENTS_TOPIC: `${RUN}.task-events`,
        USER_EVENTS_TOPIC: `${RUN}.user-events`,
        KAFKA_GROUP_ID: `${RUN}-analytics`,
      },
    },
    gateway: {
      name: 'gateway',
      dir: 'gateway',
      port: ports.gateway,
      env: {
        ...common,
        AUTH_URL: url('auth'),
        TASK_URL: url('task'),
        ANALYTICS_URL: url('analytics'),
        RATE_LIMIT_API_PER_MINUTE: String(USER_LIMIT),
        RATE_LIMIT_KEY_PREFIX: `${RUN}:rl:`,
      },
    },
  };
  say(`starting auth, task, analytics and gateway (logs and profiles in ${RUN_DIR})`);
  // Auth first: the others fetch its JWKS when they verify the first token.
  await launchService(services.auth, services.auth.env, { tracing: true });
  await Promise.all(['task', 'analytics'].map((n) => launchService(services[n], services[n].env, { tracing: true })));
  await launchService(services.gateway, services.gateway.env, { tracing: true });
  return {
    services,
    gateway: url('gateway'),
    auth: url('auth'),
    task: url('task'),
    analyticsDb: `${RUN}_analytics`,
    taskDb: `${RUN}_task`,
    taskTopic: `${RUN}.task-events`,
    mongodbUri: infra.mongodbUri,
  };
}

// ---------------------------------------------------------------------------------------------
// Users and their tasks

const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000 });

async function call(method, url, { token, body } = {}) {
  const res = await request(url, {
    method,
    dispatcher: agent,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0;
  const out = new Array(items.length);
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

async function makeUsers(authUrl) {
  say(`registering and logging in ${USERS} users`);
  const password = 'bench password that is long enough';
  return pool(
    Array.from({ length: USERS }, (_, i) => `${RUN}-${i}@bench.example.com`),
    8,
    async (email) => {
      await call('POST', `${authUrl}/auth/register`, { body: { email, password } });
      const { accessToken } = await call('POST', `${authUrl}/auth/login`, { body: { email, password } });
      const sub = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()).sub;
      return { email, token: accessToken, id: sub, tasks: [] };
    },
  );
}

/** The one admin of a run the bench starts, for GET /analytics/overview. */
const ADMIN_EMAIL = `${RUN}-admin@bench.example.com`;
async function adminToken(authUrl) {
  const password = 'bench password that is long enough';
  await call('POST', `${authUrl}/auth/register`, { body: { email: ADMIN_EMAIL, password } });
  return (await call('POST', `${authUrl}/auth/login`, { body: { email: ADMIN_EMAIL, password } })).accessToken;
}

let titleSeq = 0;
const newTask = () => ({ title: `bench task ${++titleSeq}`, description: 'measured by npm run bench:system', tags: ['bench'] });

// ---------------------------------------------------------------------------------------------
// Load

const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];

/**
 * One autocannon run. `next()` gives each request's method, path, token and body: every request
 * goes to a random user of the run, so no single user's limit or document is what is measured.
 */
async function hit(baseUrl, next, { duration, connections, overallRate }) {
  const before = cpuSnapshot();
  const result = await autocannon({
    url: baseUrl,
    duration,
    connections,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        setupRequest: (req) => {
          const r = next();
          return {
            ...req,
            method: r.method,
            path: r.path,
            headers: { ...req.headers, authorization: `Bearer ${r.token}`, ...(r.body ? { 'content-type': 'application/json' } : {}) },
            ...(r.body ? { body: JSON.stringify(r.body) } : { body: undefined }),
          };
        },
      },
    ],
  });
  const cpu = cpuDelta(before, cpuSnapshot());
  const done = result['2xx'] + result.non2xx;
  const perRequest = new Map([...cpu].map(([name, us]) => [name, us === undefined || done === 0 ? undefined : us / done]));
  const rss = new Map([...watched].map(([name, pid]) => [name, rssMiB(pid)]));
  return {
    rps: done / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuPerRequest: perRequest,
    rss,
  };
}

/** A load row: warm-up and saturation runs (repeated in rounds), and one run at the fixed rate. */
function httpRow(key, label, baseUrl, next, baselineKey) {
  return {
    key,
    label,
    baselineKey,
    warm: () => hit(baseUrl, next, { duration: 1, connections: CONNECTIONS }),
    sat: () => hit(baseUrl, next, { duration: DURATION, connections: CONNECTIONS }),
    fixed: () => hit(baseUrl, next, { duration: DURATION, connections: Math.min(CONNECTIONS, 16), overallRate: RATE }),
  };
}

/** The raw store: the same operation from `concurrency` callers. */
function rawRow(key, label, op, concurrency = CONNECTIONS) {
  const run = async (seconds) => {
    const until = performance.now() + seconds * 1000;
    const times = [];
    const before = cpuSnapshot();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          await op();
          times.push(performance.now() - t);
        }
      }),
    );
    const cpu = cpuDelta(before, cpuSnapshot());
    times.sort((a, b) => a - b);
    return {
      rps: times.length / seconds,
      p50: times[Math.floor(times.length * 0.5)],
      p99: times[Math.floor(times.length * 0.99)],
      non2xx: 0,
      errors: 0,
      cpuPerRequest: new Map([...cpu].map(([name, us]) => [name, us === undefined ? undefined : us / times.length])),
      rss: new Map([...watched].map(([name, pid]) => [name, rssMiB(pid)])),
    };
  };
  return { key, label, warm: () => run(1), sat: () => run(DURATION) };
}

const median = (values) => {
  const v = values.filter((x) => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

/**
 * The rows of one comparison, round-robin for ROUNDS rounds so that a change in the machine's load
 * touches every row alike: each figure is the median over rounds, each ratio the median of the
 * ratios within a round. Then each row once at the fixed rate.
 */
async function measureRounds(rows) {
  const runs = new Map(rows.map((r) => [r.key, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const r of rows) {
      checkDeadline(r.label);
      say(`round ${round}/${ROUNDS}: ${r.label}, saturation (${CONNECTIONS} connections, ${DURATION} s)`);
      await r.warm();
      runs.get(r.key).push(await r.sat());
    }
  }
  const out = [];
  for (const r of rows) {
    const mine = runs.get(r.key);
    const base = r.baselineKey ? runs.get(r.baselineKey) : undefined;
    const procs = [...mine[0].cpuPerRequest.keys()];
    const sat = {
      rps: median(mine.map((m) => m.rps)),
      p50: median(mine.map((m) => m.p50)),
      p99: median(mine.map((m) => m.p99)),
      non2xx: mine.reduce((n, m) => n + m.non2xx, 0),
      errors: mine.reduce((n, m) => n + m.errors, 0),
      cpuPerRequest: new Map(procs.map((p) => [p, median(mine.map((m) => m.cpuPerRequest.get(p)))])),
    };
    let fixed;
    if (r.fixed) {
      checkDeadline(r.label);
      say(`${r.label}: ${RATE} requests/s for ${DURATION} s`);
      fixed = await r.fixed();
    }
    out.push({
      key: r.key,
      label: r.label,
      baselineKey: r.baselineKey,
      baselineRps: base ? median(base.map((m) => m.rps)) : undefined,
      ratio: base ? median(mine.map((m, i) => m.rps / base[i].rps)) : undefined,
      sat,
      fixed,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Events: when analytics has counted a user's creates

/** tasksCreated of each user, as analytics stores it. */
async function createdCounts(stats, users) {
  const docs = await stats.find({ _id: { $in: users.map((u) => u.id) } }, { projection: { tasksCreated: 1 } }).toArray();
  const counts = new Map(users.map((u) => [u.id, 0]));
  for (const d of docs) counts.set(d._id, d.tasksCreated ?? 0);
  return counts;
}

async function waitCounted(stats, users, expected, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const counts = await createdCounts(stats, users);
    let short = 0;
    for (const u of users) short += Math.max(0, expected.get(u.id) - counts.get(u.id));
    if (short === 0) return { done: true, at: Date.now(), short };
    if (Date.now() > until) return { done: false, at: Date.now(), short };
    await sleep(20);
  }
}

/** Messages in the task events topic (the sum of its partitions' end offsets): what the outbox relay has published. */
let kafkaAdmin;
async function published(topic) {
  if (!kafkaAdmin) {
    const { Kafka, logLevel } = await import('kafkajs');
    kafkaAdmin = new Kafka({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
  }
  const offsets = await kafkaAdmin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high), 0);
}

/** Polls the topic until it holds `target` messages; the time it did, or undefined after `timeoutMs`. */
async function waitPublished(topic, target, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await published(topic)) >= target) return Date.now();
    await sleep(20);
  }
  return undefined;
}

async function burst(gateway, stats, users, topic) {
  checkDeadline('the burst');
  const base = await createdCounts(stats, users);
  const publishedBase = await published(topic);
  say(`events: a burst of ${BURST} creates across ${users.length} users through the gateway`);
  const items = Array.from({ length: BURST }, (_, i) => users[i % users.length]);
  const start = Date.now();
  let lastCreate = 0;
  await pool(items, CONNECTIONS, async (u) => {
    const task = await call('POST', `${gateway}/tasks`, { token: u.token, body: newTask() });
    u.tasks.push(task.id);
    lastCreate = Date.now();
  });
  const expected = new Map(users.map((u) => [u.id, base.get(u.id) + items.filter((x) => x === u).length]));
  const [publishedAt, counted] = await Promise.all([
    waitPublished(topic, publishedBase + BURST, 120_000),
    waitCounted(stats, users, expected, 120_000),
  ]);
  return {
    publishedAfterLastMs: publishedAt === undefined ? undefined : publishedAt - lastCreate,
    creates: BURST,
    createSeconds: (lastCreate - start) / 1000,
    countedAfterLastMs: counted.at - lastCreate,
    countedAfterFirstMs: counted.at - start,
    done: counted.done,
    short: counted.short,
  };
}

async function steady(gateway, stats, users) {
  checkDeadline('the steady run');
  const total = STEADY_RATE * STEADY_S;
  say(`events: ${STEADY_RATE} creates/s for ${STEADY_S} s; write-to-visible in analytics`);
  const base = await createdCounts(stats, users);
  const sent = new Map(users.map((u) => [u.id, []]));
  const visible = [];
  const seen = new Map(users.map((u) => [u.id, 0]));
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const counts = await createdCounts(stats, users);
      const now = Date.now();
      for (const u of users) {
        const n = counts.get(u.id) - base.get(u.id);
        const times = sent.get(u.id);
        for (let k = seen.get(u.id); k < Math.min(n, times.length); k++) visible.push(now - times[k]);
        seen.set(u.id, Math.max(seen.get(u.id), Math.min(n, times.length)));
      }
      await sleep(10);
    }
  })();
  const start = performance.now();
  const inflight = [];
  let failed = 0;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / STEADY_RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const u = users[i % users.length];
    const at = Date.now();
    inflight.push(
      call('POST', `${gateway}/tasks`, { token: u.token, body: newTask() }).then(
        (task) => {
          // Creates of one user are a second apart: they complete in the order they were sent.
          sent.get(u.id).push(at);
          u.tasks.push(task.id);
        },
        () => failed++,
      ),
    );
  }
  await Promise.all(inflight);
  const until = Date.now() + 60_000;
  while (visible.length < total - failed && Date.now() < until) await sleep(50);
  polling = false;
  await poller;
  visible.sort((a, b) => a - b);
  return {
    creates: total,
    failed,
    seen: visible.length,
    p50: visible[Math.floor(visible.length * 0.5)],
    p99: visible[Math.floor(visible.length * 0.99)],
    max: visible[visible.length - 1],
  };
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (v, digits = 0) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const table = (header, rows) =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

function loadTable(rows, procs) {
  const header = ['row', 'rps (sat.)', 'baseline rps', 'x baseline', `p50 / p99 ms @ ${RATE}/s`, ...procs.map((p) => `${p} µs/req`), 'non-2xx'];
  return table(
    header,
    rows.map((r) => [
      r.label,
      fmt(r.sat.rps),
      r.baselineKey ? `${r.baselineKey} ${fmt(r.baselineRps)}` : '',
      r.ratio === undefined ? '' : fmt(r.ratio, 2),
      r.fixed ? `${fmt(r.fixed.p50, 1)} / ${fmt(r.fixed.p99, 1)}` : `(${fmt(r.sat.p50, 2)} / ${fmt(r.sat.p99, 2)} at sat.)`,
      ...procs.map((p) => fmt(r.sat.cpuPerRequest.get(p))),
      String(r.sat.non2xx + r.sat.errors + (r.fixed ? r.fixed.non2xx + r.fixed.errors : 0)),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const sys = EXTERNAL
    ? {
        gateway: process.env.BASE_URL.replace(/\/$/, ''),
        task: process.env.TASK_URL?.replace(/\/$/, ''),
        auth: process.env.AUTH_URL?.replace(/\/$/, ''),
        mongodbUri: process.env.MONGODB_URI ?? infra.mongodbUri,
        taskDb: process.env.TASK_DB ?? 'task',
        analyticsDb: process.env.ANALYTICS_DB ?? 'analytics',
        taskTopic: process.env.TASK_EVENTS_TOPIC ?? 'task.task-events.v1',
      }
    : await startSystem();
  for (const r of await status().catch(() => [])) {
    if (r.name === 'mongodb' && r.pid) watched.set('store', r.pid);
    if (r.name === 'redis' && r.pid) watched.set('redis', r.pid);
  }
  const mongo = new MongoClient(sys.mongodbUri, { maxPoolSize: 20, appName: 'bench' });
  const analyticsMongo = EXTERNAL && process.env.ANALYTICS_MONGODB_URI ? new MongoClient(process.env.ANALYTICS_MONGODB_URI) : mongo;
  await mongo.connect();
  const results = { rows: [], baselines: new Map() };
  try {
    const users = await makeUsers(sys.auth ?? sys.gateway);
    // Each user gets a few tasks, through the task service (or the gateway), before anything is measured.
    const seedUrl = sys.task ?? sys.gateway;
    say(`seeding ${SEED_PER_USER} tasks per user`);
    const seed = async (u) => u.tasks.push((await call('POST', `${seedUrl}/tasks`, { token: u.token, body: newTask() })).id);
    // A user's first create on its own: secantusd-rs can answer two racing first upserts of one
    // outbox marker with no document (see docs/performance.md), which the service reports as a 500.
    await pool(users, 16, seed);
    await pool(
      users.flatMap((u) => Array.from({ length: SEED_PER_USER - 1 }, () => u)),
      16,
      seed,
    );
    const stats = analyticsMongo.db(sys.analyticsDb).collection('user_stats');
    const seeded = await waitCounted(stats, users, new Map(users.map((u) => [u.id, SEED_PER_USER])), 120_000);
    say(seeded.done ? 'seed counted by analytics' : `seed: ${seeded.short} creates still not counted after 120 s; going on`);

    // Events first, on a quiet system.
    let events;
    if (!SKIP.has('events')) events = { burst: await burst(sys.gateway, stats, users, sys.taskTopic), steady: await steady(sys.gateway, stats, users) };

    // Raw store: the same operations the read and create rows make, by the same driver.
    const tasks = mongo.db(sys.taskDb).collection('tasks');
    const owned = users.flatMap((u) => u.tasks.map((id) => ({ owner: u.id, id: new ObjectId(id) })));
    const raw = mongo.db(sys.taskDb).collection(`${RUN}_raw_inserts`);
    const indexes = await tasks.indexes();
    await raw.createIndexes(indexes.filter((i) => i.name !== '_id_').map(({ key, name, unique }) => ({ key, name, ...(unique ? { unique } : {}) })));
    const findOne = rawRow('findOne', 'raw store: findOne({ _id, ownerId })', async () => {
      const t = pick(owned);
      await tasks.findOne({ _id: t.id, ownerId: t.owner });
    });
    const insertOne = rawRow('insertOne', 'raw store: insertOne (task-sized, same indexes)', async () => {
      const _id = new ObjectId();
      const now = new Date();
      await raw.insertOne({
        _id,
        ownerId: pick(users).id,
        ...newTask(),
        status: 'todo',
        dueAt: null,
        createdAt: now,
        updatedAt: now,
        completedAt: null,
        version: 1,
        deletedAt: null,
        idempotencyKey: `id:${_id.toHexString()}`,
        requestHash: null,
        outbox: [],
      });
    });

    const getOne = () => {
      const u = pick(users);
      return { method: 'GET', path: `/tasks/${pick(u.tasks)}`, token: u.token };
    };
    const list = () => {
      const u = pick(users);
      return { method: 'GET', path: '/tasks?limit=20', token: u.token };
    };
    let patchSeq = 0;
    const create = () => ({ method: 'POST', path: '/tasks', token: pick(users).token, body: newTask() });
    const patch = () => {
      const u = pick(users);
      return { method: 'PATCH', path: `/tasks/${pick(u.tasks)}`, token: u.token, body: { title: `renamed ${++patchSeq}` } };
    };
    const reads = [
      findOne,
      ...(sys.task
        ? [
            httpRow('get-task', 'GET /tasks/:id, task service', sys.task, getOne, 'findOne'),
            httpRow('list-task', 'GET /tasks?limit=20, task service', sys.task, list, 'findOne'),
          ]
        : []),
      httpRow('get-gateway', 'GET /tasks/:id, gateway', sys.gateway, getOne, 'findOne'),
      httpRow('list-gateway', 'GET /tasks?limit=20, gateway', sys.gateway, list, 'findOne'),
    ];
    if (!SKIP.has('load')) results.rows.push(...(await measureRounds(reads)));

    // Cache-aside candidates: the profile and the statistics, each one indexed read (the profile
    // two) behind the gateway, beside the store's findOne and a raw Redis GET of a profile-sized
    // value, the floor a cache hit builds on.
    const redis = new Redis(infra.redisUrl, { lazyConnect: true });
    await redis.connect();
    const cacheKey = (u) => `${RUN}:bench:${u.id}`;
    const profile = (u) => JSON.stringify({ id: u.id, email: u.email, createdAt: new Date().toISOString() });
    for (const u of users) await redis.set(cacheKey(u), profile(u), 'EX', DEADLINE_S);
    const redisGet = rawRow('redisGet', 'raw Redis: GET (a profile-sized value)', async () => {
      await redis.get(cacheKey(pick(users)));
    });
    const asUser = (path) => () => ({ method: 'GET', path, token: pick(users).token });
    const asAdmin = (token) => () => ({ method: 'GET', path: '/analytics/overview', token });
    // Against BASE_URL the overview row needs an admin's token (BENCH_ADMIN_TOKEN).
    const admin = EXTERNAL ? process.env.BENCH_ADMIN_TOKEN : await adminToken(sys.auth);
    const cacheRows = [
      findOne,
      redisGet,
      httpRow('me-auth-gateway', 'GET /auth/me, gateway', sys.gateway, asUser('/auth/me'), 'findOne'),
      httpRow('me-analytics-gateway', 'GET /analytics/me, gateway', sys.gateway, asUser('/analytics/me'), 'findOne'),
      ...(admin ? [httpRow('overview-gateway', 'GET /analytics/overview, gateway', sys.gateway, asAdmin(admin), 'findOne')] : []),
    ];
    if (!SKIP.has('cache')) results.rows.push(...(await measureRounds(cacheRows)));
    redis.disconnect();

    const writes = [
      insertOne,
      httpRow('post-gateway', 'POST /tasks, gateway', sys.gateway, create, 'insertOne'),
      httpRow('patch-gateway', 'PATCH /tasks/:id, gateway', sys.gateway, patch, 'insertOne'),
    ];
    if (!SKIP.has('load')) results.rows.push(...(await measureRounds(writes)));

    // Idle: once the writes above are counted, nothing for IDLE_S seconds.
    let idle;
    if (!SKIP.has('idle')) {
      checkDeadline('the idle measurement');
      say('idle: waiting for the outbox and analytics to finish the writes (at most 120 s)');
      // Counted creates keep rising while the outbox drains; quiet once they stop for 3 s.
      let last = -1;
      let stableSince = Date.now();
      const until = Date.now() + 120_000;
      while (Date.now() - stableSince < 3000 && Date.now() < until) {
        const c = [...(await createdCounts(stats, users)).values()].reduce((a, b) => a + b, 0);
        if (c !== last) {
          last = c;
          stableSince = Date.now();
        }
        await sleep(500);
      }
      say(`idle: ${IDLE_S} s without traffic`);
      const settle = Math.min(10, IDLE_S / 3);
      await sleep((IDLE_S - settle) * 1000);
      const before = cpuSnapshot();
      await sleep(settle * 1000);
      const cpu = cpuDelta(before, cpuSnapshot());
      idle = [...watched].map(([name, pid]) => ({
        name,
        cpuPercent: cpu.get(name) === undefined ? undefined : (cpu.get(name) / (settle * 1e6)) * 100,
        rss: rssMiB(pid),
      }));
    }

    // Tracing off: the read rows again, with the gateway and the task service restarted without the preload.
    let tracing;
    if (!EXTERNAL && !SKIP.has('tracing')) {
      checkDeadline('the tracing rows');
      // A second task service and gateway without the preload, on the same data, measured in
      // the same rounds as the traced pair.
      say('tracing: starting a task service and a gateway without the preload beside the others');
      const taskOff = { ...sys.services.task, name: 'task-untraced', port: await freePort() };
      const taskOffUrl = await launchService(taskOff, taskOff.env, { tracing: false });
      const gatewayOff = { ...sys.services.gateway, name: 'gateway-untraced', port: await freePort() };
      const gatewayOffUrl = await launchService(gatewayOff, { ...gatewayOff.env, TASK_URL: taskOffUrl }, { tracing: false });
      const rows = await measureRounds([
        httpRow('get-task-on', 'GET /tasks/:id, task service', sys.task, getOne),
        httpRow('get-task-off', 'GET /tasks/:id, task service, tracing off', taskOffUrl, getOne, 'get-task-on'),
        httpRow('get-gateway-on', 'GET /tasks/:id, gateway', sys.gateway, getOne),
        httpRow('get-gateway-off', 'GET /tasks/:id, gateway, tracing off', gatewayOffUrl, getOne, 'get-gateway-on'),
      ].map((r) => ({ ...r, fixed: undefined })));
      const on = [rows[0], rows[2]];
      const off = [rows[1], rows[3]];
      tracing = { on, off };
    }

    // ------------------------------------------------------------------------------------------
    const procs = [...watched.keys()];
    const out = [];
    out.push(`## bench:system ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    out.push('');
    out.push(
      `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
        `Node ${process.version}, load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}. ${USERS} users, ` +
        `${CONNECTIONS} connections at saturation, ${DURATION} s per run, ${ROUNDS} rounds (medians).${EXTERNAL ? ` System at ${sys.gateway}.` : ''}`,
    );
    out.push('');
    out.push(loadTable(results.rows, procs.filter((p) => !p.endsWith('-untraced'))));
    out.push('');
    if (events) {
      out.push(
        table(
          ['events', 'figure', 'baseline'],
          [
            [
              `burst: ${events.burst.creates} creates across ${USERS} users`,
              (events.burst.done
                ? `all counted ${fmt(events.burst.countedAfterLastMs)} ms after the last create`
                : `${events.burst.short} not counted 120 s after the last create`) +
                ` (all published to Kafka after ${events.burst.publishedAfterLastMs === undefined ? 'more than 120 s' : `${fmt(events.burst.publishedAfterLastMs)} ms`})`,
              `creates took ${fmt(events.burst.createSeconds, 1)} s (${fmt(events.burst.creates / events.burst.createSeconds)}/s)`,
            ],
            [
              `steady: ${STEADY_RATE} creates/s for ${STEADY_S} s`,
              `write-to-visible p50 ${fmt(events.steady.p50)} ms, p99 ${fmt(events.steady.p99)} ms, max ${fmt(events.steady.max)} ms`,
              `${events.steady.seen} of ${events.steady.creates - events.steady.failed} seen (${events.steady.failed} failed)`,
            ],
          ],
        ),
      );
      out.push('');
    }
    if (idle) {
      out.push(table([`idle (last ${Math.min(10, IDLE_S / 3)} s of ${IDLE_S} s)`, 'CPU % of a core', 'RSS MiB'], idle.map((i) => [i.name, fmt(i.cpuPercent, 2), fmt(i.rss)])));
      out.push('');
    }
    if (tracing) {
      out.push(
        table(
          ['read row', 'tracing on rps', 'tracing off rps', 'on / off (rps)', 'µs/req on (task, gateway)', 'µs/req off (task, gateway)', 'on / off (CPU per request)'],
          tracing.on.map((on, i) => {
            const off = tracing.off[i];
            const cpu = (r, suffix) => ['task', 'gateway'].map((p) => r.sat.cpuPerRequest.get(`${p}${suffix}`) ?? 0);
            const [onUs, offUs] = [cpu(on, ''), cpu(off, '-untraced')];
            const total = (v) => v[0] + v[1];
            return [
              on.label,
              fmt(on.sat.rps),
              fmt(off.sat.rps),
              fmt(1 / off.ratio, 2),
              onUs.map((v) => fmt(v)).join(', '),
              offUs.map((v) => fmt(v)).join(', '),
              fmt(total(onUs) / total(offUs), 2),
            ];
          }),
        ),
      );
      out.push('');
    }
    out.push(`Run took ${elapsed()}.`);
    console.log(out.join('\n'));
    fs.writeFileSync(path.join(RUN_DIR, 'result.md'), out.join('\n') + '\n');
    say(`result also in ${path.join(RUN_DIR, 'result.md')}`);
  } finally {
    stopping = true;
    for (const name of [...children.keys()]) await stopService(name);
    if (!EXTERNAL) {
      for (const db of [`${RUN}_auth`, `${RUN}_task`, `${RUN}_analytics`]) await mongo.db(db).dropDatabase().catch(() => {});
      await dropTopics().catch((err) => say(`could not delete this run's topics: ${err.message}`));
    }
    await kafkaAdmin?.disconnect();
    await mongo.close();
    if (analyticsMongo !== mongo) await analyticsMongo.close();
    await agent.close();
  }
}

/** The topics this run created (its events, its consumer group's retry and dead letters). */
async function dropTopics() {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(RUN));
    if (mine.length) await admin.deleteTopics({ topics: mine, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

const hardStop = setTimeout(() => {
  say(`still running after ${DEADLINE_S + 60} s: stopping`);
  for (const c of children.values()) c.kill('SIGKILL');
  process.exit(1);
}, (DEADLINE_S + 60) * 1000);
hardStop.unref();

process.on('SIGINT', () => {
  for (const c of children.values()) c.kill('SIGTERM');
  process.exit(130);
});

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[bench] failed: ${err.stack ?? err.message}`);
    for (const c of children.values()) c.kill('SIGTERM');
    process.exit(1);
  },
);
