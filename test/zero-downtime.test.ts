/**
 * Zero failed requests through restarts, scale-downs and outages, with real processes and a real
 * L4 load balancer. Two instances of every service run from their build (`dist/server.js`, what
 * the image runs), each pair behind its own haproxy in TCP mode, which behaves like kube-proxy:
 * a backend taken out gets no new connections, and keeps its established ones. Two gateways sit
 * behind a haproxy in front, and a steady load of mixed reads and idempotent writes goes through
 * it for the whole run. Kafka and Redis are private instances on free ports (the outage phases
 * stop them); MongoDB is the shared one, with databases of this run's own.
 *
 * Each phase prints its request counts and failures. The rate is ZERO_DOWNTIME_RPS (default 50:
 * the machine this runs on has two cores shared by everything else, with nine Node processes,
 * four haproxies and two JVMs here; a baseline phase without any change shows that the rate is
 * carried without failures, so that what the other phases count is the drain, not saturation).
 * For the same reason the gateways' upstream timeouts are 20 s here: a CPU-starved machine must
 * not turn slow answers into 504s that say nothing about restarts.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnService, startBalancer, terminate, waitHttpOk, type Balancer } from '../scripts/balancer-lib.mjs';
import { DATA_DIR, ROOT, freePort, startKafka, startRedis, stopInstance } from '../scripts/infra-lib.mjs';
import { rolloutCheck } from '../scripts/rollout-check.mjs';
import { generateSigningKeyPem } from '../services/auth/src/domain/keys/signing-keys.js';

type Service = 'gateway' | 'auth' | 'task' | 'analytics';
interface Running {
  readonly name: string;
  readonly service: Service;
  readonly port: number;
  child: ChildProcess | undefined;
  pid: number;
  readonly env: Record<string, string>;
  readonly logFile: string;
  exit?: Promise<number | null>;
}

const RPS = Number(process.env.ZERO_DOWNTIME_RPS ?? 50);
/** The services' drain window; 0 shows what the drain is for (the scale-down phases then fail). */
const DRAIN_MS = process.env.ZERO_DOWNTIME_DRAIN_MS ?? '5000';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const id = randomUUID().slice(0, 8);
const runDir = path.join(DATA_DIR, `zero-downtime-${id}`);

/** Counts per phase: requests, failures (any status >= 400 or a network error), and the first failures. */
class PhaseStats {
  phase = 'setup';
  readonly byPhase = new Map<string, { requests: number; failed: number; writes: number; failures: string[] }>();
  readonly createdIn = new Map<string, string[]>();
  inFlight = 0;
  skipped = 0;
  record(ok: boolean, what: string) {
    let s = this.byPhase.get(this.phase);
    if (!s) this.byPhase.set(this.phase, (s = { requests: 0, failed: 0, writes: 0, failures: [] }));
    s.requests++;
    if (what.startsWith('POST')) s.writes++;
    if (!ok) {
      s.failed++;
      if (s.failures.length < 10) s.failures.push(what);
    }
  }
  of(phase: string) {
    return this.byPhase.get(phase) ?? { requests: 0, failed: 0, writes: 0, failures: [] };
  }
}

describe('zero downtime behind a real L4 load balancer (haproxy, TCP mode)', () => {
  const stats = new PhaseStats();
  const instances = new Map<string, Running>();
  const balancers: Partial<Record<Service, Balancer>> = {};
  let kafka: Awaited<ReturnType<typeof startKafka>>;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let kafkaPorts = { port: 0, controllerPort: 0 };
  const tokens: string[] = [];
  const taskIds: string[][] = [];
  let stopLoad = false;
  let load: Promise<void> | undefined;
  const fleetFile = path.join(runDir, 'fleet.json');
  const databases = { auth: `zd_auth_${id}`, task: `zd_task_${id}`, analytics: `zd_analytics_${id}` };
  const taskTopic = `zd-${id}.task-events`;
  const userTopic = `zd-${id}.user-events`;
  const phaseLog: string[] = [];

  const start = (name: string, service: Service, env: Record<string, string>, port: number) => {
    const logFile = path.join(runDir, `${name}.log`);
    const child = spawnService({ service, port, env, logFile, root: ROOT });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const running: Running = { name, service, port, child, pid: child.pid!, env, logFile, exit };
    instances.set(name, running);
    return running;
  };
  const tail = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n') : '');
  const ready = (r: Running) =>
    waitHttpOk(`http://127.0.0.1:${r.port}/health/ready`, { timeoutMs: 90_000, isAlive: () => r.child?.exitCode === null }).catch(
      (err: Error) => {
        throw new Error(`${r.name}: ${err.message}\n${r.logFile}:\n${tail(r.logFile)}`);
      },
    );
  const writeFleet = () =>
    fs.writeFileSync(
      fleetFile,
      JSON.stringify({
        root: ROOT,
        socket: balancers.task!.socket,
        instances: Object.fromEntries(
          [...instances.values()]
            .filter((r) => r.service === 'task')
            .map((r) => [
              r.name,
              { service: r.service, port: r.port, pid: r.pid, env: r.env, logFile: r.logFile, backend: balancers.task!.backend },
            ]),
        ),
      }),
    );

  beforeAll(async () => {
    fs.mkdirSync(runDir, { recursive: true });
    // The processes run the build, as in the image: bring it up to date (a no-op after `npm test`'s bootstrap).
    const build = spawnSync('npx', ['tsc', '-b', 'gateway', 'services/auth', 'services/task', 'services/analytics'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (build.status !== 0) throw new Error(`tsc -b failed:\n${build.stdout}${build.stderr}`);

    kafkaPorts = { port: await freePort(), controllerPort: await freePort() };
    [kafka, redis] = await Promise.all([startKafka(kafkaPorts), startRedis({ port: await freePort() })]);
    const { mongodbUri } = inject('infra');
    // Redis too is this test's own: the gateway's rate limits and the auth and analytics caches all lose it below.
    const common = {
      MONGODB_URI: mongodbUri,
      KAFKA_BROKERS: kafka.brokers,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      DRAIN_MS,
      SHUTDOWN_TIMEOUT_MS: '10000',
    };

    const ports: Record<string, number> = {};
    for (const n of ['auth-a', 'auth-b', 'task-a', 'task-b', 'analytics-a', 'analytics-b', 'gateway-a', 'gateway-b'])
      ports[n] = await freePort();
    for (const s of ['auth', 'task', 'analytics', 'gateway'] as const) {
      balancers[s] = await startBalancer({
        name: s,
        backends: [
          { name: `${s}-a`, port: ports[`${s}-a`]! },
          { name: `${s}-b`, port: ports[`${s}-b`]! },
        ],
      });
    }
    const jwks = { JWKS_URL: `${balancers.auth!.url}/.well-known/jwks.json` };
    const key = generateSigningKeyPem();
    const envOf: Record<Service, Record<string, string>> = {
      auth: {
        ...common,
        MONGODB_DB: databases.auth,
        AUTH_SIGNING_KEY_CURRENT: key,
        USER_EVENTS_TOPIC: userTopic,
        OUTBOX_RELAY_INTERVAL_MS: '200',
      },
      task: { ...common, ...jwks, MONGODB_DB: databases.task, TASK_EVENTS_TOPIC: taskTopic, OUTBOX_POLL_MS: '100' },
      analytics: {
        ...common,
        ...jwks,
        MONGODB_DB: databases.analytics,
        USER_EVENTS_TOPIC: userTopic,
        TASK_EVENTS_TOPIC: taskTopic,
        KAFKA_GROUP_ID: `zd-${id}`,
        KAFKA_SESSION_TIMEOUT_MS: '10000',
      },
      gateway: {
        ...common,
        ...jwks,
        AUTH_URL: balancers.auth!.url,
        TASK_URL: balancers.task!.url,
        ANALYTICS_URL: balancers.analytics!.url,
        RATE_LIMIT_KEY_PREFIX: `zd:${id}:`,
        RATE_LIMIT_AUTH_PER_MINUTE: '100000',
        RATE_LIMIT_API_PER_MINUTE: '1000000',
        AUTH_TIMEOUT_MS: '20000',
        TASK_TIMEOUT_MS: '20000',
        ANALYTICS_TIMEOUT_MS: '20000',
      },
    };
    // Auth first (the others fetch its keys), then the rest side by side.
    for (const order of [['auth'], ['task', 'analytics'], ['gateway']] as Service[][]) {
      const started: Running[] = [];
      for (const s of order)
        for (const x of ['a', 'b']) {
          started.push(start(`${s}-${x}`, s, envOf[s], ports[`${s}-${x}`]!));
        }
      await Promise.all(started.map(ready));
    }
    writeFleet();

    const front = balancers.gateway!.url;
    // A few users, each with a token and a couple of tasks to read.
    for (let u = 0; u < 4; u++) {
      const email = `zd-${id}-${u}@example.com`;
      const password = `zero downtime ${id} ${u}`;
      const reg = await fetch(`${front}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      expect(reg.status).toBe(201);
      const login = await fetch(`${front}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      expect(login.status).toBe(200);
      const token = ((await login.json()) as { accessToken: string }).accessToken;
      tokens.push(token);
      taskIds.push([]);
      for (let t = 0; t < 2; t++) {
        const res = await fetch(`${front}/tasks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ title: `seed ${t}` }),
        });
        expect(res.status).toBe(201);
        taskIds[u]!.push(((await res.json()) as { id: string }).id);
      }
    }

    // The steady load: RPS requests a second, in ticks of 20 ms; 4 in 10 list tasks, 1 reads a
    // task, 1 reads /auth/me, 2 read /analytics/me, 2 create a task with an Idempotency-Key.
    load = (async () => {
      let n = 0;
      let due = 0;
      const t0 = performance.now();
      while (!stopLoad) {
        due = Math.floor(((performance.now() - t0) / 1000) * RPS);
        while (n < due) {
          const i = n++;
          if (stats.inFlight >= 256) {
            stats.skipped++;
            continue;
          }
          void one(front, i);
        }
        await sleep(20);
      }
      while (stats.inFlight > 0) await sleep(20);
    })();
  }, 300_000);

  async function one(front: string, i: number) {
    const u = i % tokens.length;
    const auth = { authorization: `Bearer ${tokens[u]}` };
    const kind = i % 10;
    let method = 'GET';
    let url: string;
    let body: string | undefined;
    const headers: Record<string, string> = { ...auth };
    if (kind < 4) url = '/tasks?limit=5';
    else if (kind === 4) url = `/tasks/${taskIds[u]![i % 2]}`;
    else if (kind === 5) url = '/auth/me';
    else if (kind < 8) url = '/analytics/me';
    else {
      method = 'POST';
      url = '/tasks';
      body = JSON.stringify({ title: `load ${i}` });
      headers['content-type'] = 'application/json';
      headers['idempotency-key'] = `zd-${id}-${i}`;
    }
    const phase = stats.phase;
    stats.inFlight++;
    try {
      const res = await fetch(`${front}${url}`, { method, headers, body, signal: AbortSignal.timeout(30_000) });
      const text = await res.text();
      const ok = res.status < 400;
      if (ok && method === 'POST') {
        const created = (JSON.parse(text) as { id: string }).id;
        let list = stats.createdIn.get(phase);
        if (!list) stats.createdIn.set(phase, (list = []));
        list.push(created);
      }
      stats.record(ok, `${method} ${url} -> ${res.status} ${ok ? '' : text.slice(0, 160)}`);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      stats.record(false, `${method} ${url} -> ${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message}`);
    } finally {
      stats.inFlight--;
    }
  }

  /** Runs `action` under the load as its own phase, then prints and returns the phase's counts. */
  async function phase(name: string, action: () => Promise<void>, { before = 2000, after = 2000 } = {}) {
    stats.phase = name;
    const t0 = Date.now();
    await sleep(before);
    await action();
    await sleep(after);
    stats.phase = `${name} (tail)`;
    // Requests sent during the phase that are still in flight are counted in it.
    await sleep(1000);
    const s = stats.of(name);
    const line = `phase "${name}": ${s.requests} requests (${s.writes} idempotent writes) in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${s.failed} failed${s.failures.length ? `\n    ${s.failures.join('\n    ')}` : ''}`;
    phaseLog.push(line);
    console.log(line);
    return s;
  }

  /** Out of the balancer, a second for the change to be seen (preStop plays this in Kubernetes), SIGTERM, and the exit. */
  async function removeAndTerminate(service: Service, name: string) {
    const r = instances.get(name)!;
    await balancers[service]!.remove(name);
    await sleep(1000);
    const t0 = Date.now();
    if (r.child) {
      r.child.kill('SIGTERM');
      const code = await Promise.race([r.exit!, sleep(30_000).then(() => 'timeout' as const)]);
      expect(code, `${name} exit code after SIGTERM (log: ${r.logFile})`).toBe(0);
    } else {
      expect(await terminate(r.pid, 30_000), `${name} exited by itself after SIGTERM (log: ${r.logFile})`).toBe(true);
    }
    console.log(`  ${name}: out of the balancer, SIGTERM, drained and exited in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  afterAll(async () => {
    stopLoad = true;
    await load;
    // How often the surviving gateway sent a request again after its connection was lost.
    const a = instances.get('gateway-a');
    const metrics = a
      ? await fetch(`http://127.0.0.1:${a.port}/metrics`).then(
          (r) => r.text(),
          () => '',
        )
      : '';
    const retried = metrics.split('\n').filter((l) => l.startsWith('gateway_upstream_retries_total{'));
    phaseLog.push(
      `gateway-a upstream retries: ${retried.map((l) => l.replace('gateway_upstream_retries_total', '')).join(', ') || '0 (none was needed)'}`,
    );
    for (const r of instances.values()) await terminate(r.pid, 20_000).catch(() => {});
    for (const b of Object.values(balancers)) await b?.stop();
    if (kafka) await stopInstance(kafka);
    if (redis) await stopInstance(redis);
    const client = await MongoClient.connect(inject('infra').mongodbUri);
    try {
      for (const db of Object.values(databases)) await client.db(db).dropDatabase();
    } finally {
      await client.close();
    }
    console.log(
      `zero-downtime summary at ${RPS} req/s, DRAIN_MS ${DRAIN_MS} (${stats.skipped} sends skipped at the in-flight cap; logs in ${runDir}):\n  ${phaseLog.join('\n  ')}`,
    );
  }, 120_000);

  it('when nothing changes, then the steady load is carried without a failure (the baseline)', async () => {
    const s = await phase('baseline', () => sleep(4000), { before: 0, after: 0 });
    expect(s.requests).toBeGreaterThan(RPS * 3);
    expect(s.failed).toBe(0);
  }, 60_000);

  it('when a task instance is restarted behind the balancer, then `npm run rollout-check` through the gateways reports 0 failures', async () => {
    stats.phase = 'rollout-check';
    const lines: string[] = [];
    const result = await rolloutCheck({
      baseUrl: balancers.gateway!.url,
      command: `node ${path.join(ROOT, 'scripts', 'balancer.mjs')} restart ${fleetFile} task-b`,
      rps: 20,
      warmupMs: 2000,
      settleMs: 3000,
      timeoutMs: 120_000,
      log: (line: string) => lines.push(line),
    });
    console.log(lines.join('\n'));
    // The replacement of task-b is not a child of this process: follow it by its pid.
    const fleet = JSON.parse(fs.readFileSync(fleetFile, 'utf8')) as { instances: Record<string, { pid: number }> };
    const b = instances.get('task-b')!;
    b.pid = fleet.instances['task-b']!.pid;
    b.child = undefined;
    const s = stats.of('rollout-check');
    console.log(
      `phase "rollout-check": steady load alongside: ${s.requests} requests, ${s.failed} failed${s.failures.length ? `\n    ${s.failures.join('\n    ')}` : ''}`,
    );
    phaseLog.push(
      `phase "rollout-check": rollout-check ${result.summary.requests} requests, ${result.summary.failed} failed; steady load ${s.requests} requests, ${s.failed} failed`,
    );
    expect(result.code).toBe(0);
    expect(result.summary.failed).toBe(0);
    expect(s.failed).toBe(0);
  }, 180_000);

  for (const service of ['task', 'auth', 'analytics'] as const) {
    it(`when one of two ${service} instances is taken out of the balancer and gets SIGTERM, then no client request fails`, async () => {
      const s = await phase(`${service} scale-down`, () => removeAndTerminate(service, `${service}-b`));
      expect(s.requests).toBeGreaterThan(RPS * 5);
      expect(s.failed).toBe(0);
    }, 90_000);
  }

  it('when one of two gateways is taken out of the front balancer and gets SIGTERM, then no client request fails', async () => {
    const s = await phase('gateway scale-down', () => removeAndTerminate('gateway', 'gateway-b'));
    expect(s.requests).toBeGreaterThan(RPS * 5);
    expect(s.failed).toBe(0);
  }, 90_000);

  /** Every second of an outage: the readiness of each instance still running. */
  async function readinessDuring(ms: number) {
    const notReady: string[] = [];
    const until = Date.now() + ms;
    let rounds = 0;
    while (Date.now() < until) {
      rounds++;
      const round = [...instances.values()]
        .filter((r) => !r.name.endsWith('-b'))
        .map(async (r) => {
          const res = await fetch(`http://127.0.0.1:${r.port}/health/ready`, { signal: AbortSignal.timeout(3000) }).catch(
            (err: Error) => err,
          );
          if (res instanceof Error || res.status !== 200)
            notReady.push(`${r.name}: ${res instanceof Error ? res.message : `${res.status} ${await res.text()}`}`);
        });
      await Promise.all([...round, sleep(1000)]);
    }
    return { rounds, notReady };
  }

  it('when Kafka is stopped for 10 s, then gateway, auth and analytics stay ready, reads answer, task writes succeed, and their events arrive once after Kafka returns', async () => {
    let readiness = { rounds: 0, notReady: [] as string[] };
    const s = await phase('kafka down 10 s', async () => {
      await stopInstance(kafka, { keepData: true });
      readiness = await readinessDuring(10_000);
      kafka = await startKafka({ port: kafkaPorts.port, controllerPort: kafkaPorts.controllerPort, timeoutMs: 90_000 });
    });
    console.log(
      `  readiness during the Kafka outage: ${readiness.rounds} rounds over gateway-a, auth-a, task-a, analytics-a, ${readiness.notReady.length} not ready`,
    );
    expect(readiness.notReady).toEqual([]);
    expect(s.failed).toBe(0);
    const created = stats.createdIn.get('kafka down 10 s') ?? [];
    expect(created.length).toBeGreaterThan(10);

    // Each task created while Kafka was down has exactly one TaskCreated event once it is back.
    const consumerKafka = new Kafka({ clientId: `zd-${id}-check`, brokers: [kafka.brokers], logLevel: logLevel.NOTHING });
    const consumer = consumerKafka.consumer({ groupId: `zd-${id}-check` });
    const seen = new Map<string, number>();
    await consumer.connect();
    await consumer.subscribe({ topic: taskTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const event = JSON.parse(message.value!.toString()) as { type: string; data: { taskId: string } };
        if (event.type === 'TaskCreated') seen.set(event.data.taskId, (seen.get(event.data.taskId) ?? 0) + 1);
      },
    });
    try {
      await expect.poll(() => created.filter((t) => seen.has(t)).length, { timeout: 60_000, interval: 500 }).toBe(created.length);
      await sleep(2000);
      const twice = created.filter((t) => (seen.get(t) ?? 0) !== 1);
      console.log(
        `  ${created.length} tasks created during the Kafka outage; ${created.length - twice.length} TaskCreated events arrived exactly once after it`,
      );
      expect(twice).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
  }, 240_000);

  it('when Redis is stopped for 10 s, then every service stays ready, reads answer (the cached ones from their stores) and task writes succeed', async () => {
    let readiness = { rounds: 0, notReady: [] as string[] };
    const s = await phase('redis down 10 s', async () => {
      await stopInstance(redis, { keepData: true });
      readiness = await readinessDuring(10_000);
      redis = await startRedis({ port: Number(redis.address.split(':')[1]) });
    });
    console.log(`  readiness during the Redis outage: ${readiness.rounds} rounds, ${readiness.notReady.length} not ready`);
    expect(readiness.notReady).toEqual([]);
    expect(s.failed).toBe(0);
    expect((stats.createdIn.get('redis down 10 s') ?? []).length).toBeGreaterThan(10);
  }, 120_000);
});
