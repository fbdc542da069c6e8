import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EventProducer, createKafka, ensureTopics } from '@taskmesh/kafka';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { alertGroups, grafanaDashboards } from '../src/index.js';
import { freePort } from '../../../scripts/infra-lib.mjs';
import { ensurePrometheusInstalled } from '../../../scripts/prometheus-lib.mjs';

/**
 * Every panel of every dashboard, asked of a real Prometheus that scrapes the real services after
 * real traffic: `npm start` (scripts/start.mjs) on free ports with its Prometheus, the smoke run
 * through the gateway, a message analytics must dead-letter and logins over the rate limit.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
/** Faster than the cluster's 15 s so that two scrapes take seconds; Grafana's intervals follow it. */
const SCRAPE_SECONDS = 2;

/**
 * Queries that show a series only under a condition this traffic does not create, by
 * `dashboard file › panel title › refId`. Keep it short: every entry is a panel nobody has seen
 * with data.
 */
export const CONDITIONAL_PANELS: Record<string, string> = {
  'overview.json › 5xx ratio › A': 'a service answered 5xx (the ratio is 5xx over all, and there is no 5xx series before the first one)',
};

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
}
interface Dashboard {
  templating: { list: { name: string; query: { query: string }; allValue?: string }[] };
  panels: Panel[];
}

/**
 * A query as Grafana sends it: a multi-value variable set to All becomes its `allValue`;
 * `$__interval` is the step, at least the data source's scrape interval; `$__rate_interval` is
 * max($__interval + scrape interval, 4 × scrape interval).
 */
function asGrafanaSendsIt(expr: string, variables: Record<string, string>, stepSeconds: number): string {
  const rateInterval = Math.max(stepSeconds + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS);
  let out = expr.replace(/\$__rate_interval/g, `${rateInterval}s`).replace(/\$__interval/g, `${stepSeconds}s`);
  for (const [name, value] of Object.entries(variables)) out = out.replace(new RegExp(`\\$${name}\\b|\\$\\{${name}\\}`, 'g'), value);
  if (/\$/.test(out.replace(/\{\{[^}]*\}\}/g, ''))) throw new Error(`a variable is left in ${out}`);
  return out;
}

async function api<T>(url: string, params: Record<string, string | string[]> = {}): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) query.append(k, one);
  const res = await fetch(`${url}?${query}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error}`);
  return body.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('every dashboard panel on a running system', () => {
  const id = randomUUID().slice(0, 8);
  const taskTopic = `panels-${id}.task-events`;
  const userTopic = `panels-${id}.user-events`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'panels-'));
  let child: ChildProcessByStdio<null, Readable, Readable>;
  let out = '';
  let exited: Promise<number | null>;
  let ports: Record<string, number>;
  let prometheus: string;
  let gateway: string;
  let upAt: number;

  beforeAll(async () => {
    // A fresh machine builds Prometheus first (minutes; promtool.test.ts may be doing it: one build, the other waits).
    await ensurePrometheusInstalled();
    for (const ws of ['gateway', 'services/auth', 'services/task', 'services/analytics']) {
      expect(fs.existsSync(path.join(ROOT, ws, 'dist', 'server.js')), `${ws} is not built: run \`npm run build\``).toBe(true);
    }
    ports = {
      AUTH_PORT: await freePort(),
      TASK_PORT: await freePort(),
      ANALYTICS_PORT: await freePort(),
      GATEWAY_PORT: await freePort(),
      PROMETHEUS_PORT: await freePort(),
    };
    gateway = `http://127.0.0.1:${ports.GATEWAY_PORT}`;
    // Before the services: task's relay would otherwise publish before analytics created them.
    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: `panels-${id}` });
    await ensureTopics(kafka, [
      { topic: taskTopic, numPartitions: 3 },
      { topic: userTopic, numPartitions: 3 },
    ]);
    child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
        PROMETHEUS_SCRAPE_INTERVAL: `${SCRAPE_SECONDS}s`,
        // Its own Prometheus folder, keys, topics, group and rate-limit keys: nobody else's state.
        TASKMESH_DATA_DIR: dataDir,
        AUTH_KEY_DIR: path.join(dataDir, 'auth-keys'),
        TASK_EVENTS_TOPIC: taskTopic,
        USER_EVENTS_TOPIC: userTopic,
        KAFKA_GROUP_ID: `panels-${id}`,
        RATE_LIMIT_KEY_PREFIX: `panels:${id}:`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 120_000;
    while (!out.includes('taskmesh is up') && Date.now() < deadline && child.exitCode === null) await sleep(200);
    expect(out, out.slice(-3000)).toContain('taskmesh is up');
    upAt = Date.now() / 1000;
    prometheus = `http://127.0.0.1:${ports.PROMETHEUS_PORT}`;
    expect(out, 'npm start prints the Prometheus URL').toContain(`prometheus http://127.0.0.1:${ports.PROMETHEUS_PORT}`);

    // The smoke run, as a user runs it.
    const smoke = spawn(process.execPath, [path.join(ROOT, 'scripts', 'smoke.mjs'), '--base-url', gateway], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let smokeOut = '';
    smoke.stdout.on('data', (d) => (smokeOut += d));
    smoke.stderr.on('data', (d) => (smokeOut += d));
    const smokeCode = await new Promise((resolve) => smoke.once('exit', resolve));
    expect(smokeCode, `${smokeOut}\n--- npm start:\n${out.slice(-3000)}`).toBe(0);

    // A message analytics must dead-letter, and logins over the per-IP limit (5 a minute).
    const producer = new EventProducer(kafka);
    try {
      await producer.send(taskTopic, [{ key: 'someone', value: { not: 'an event' } }]);
    } finally {
      await producer.disconnect();
    }
    let limited = false;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await fetch(`${gateway}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `nobody-${id}@example.com`, password: 'not the password at all' }),
      });
      limited = res.status === 429;
    }
    expect(limited, 'the gateway refused a login over the rate limit').toBe(true);

    // Both counted, then two more scrapes of every target.
    const counted = async (expr: string) =>
      (await api<{ result: unknown[] }>(`${prometheus}/api/v1/query`, { query: expr })).result.length > 0;
    const until = Date.now() + 60_000;
    while (
      !((await counted('analytics_dead_letters_total > 0')) && (await counted('gateway_rate_limit_rejections_total > 0'))) &&
      Date.now() < until
    ) {
      await sleep(500);
    }
    const trafficEnd = Date.now();
    for (;;) {
      const { activeTargets } = await api<{ activeTargets: { lastScrape: string; health: string }[] }>(`${prometheus}/api/v1/targets`);
      if (activeTargets.every((t) => Date.parse(t.lastScrape) > trafficEnd + SCRAPE_SECONDS * 1000)) break;
      if (Date.now() > trafficEnd + 30_000)
        throw new Error(`targets not scraped twice since the traffic: ${JSON.stringify(activeTargets)}`);
      await sleep(250);
    }
  }, 30 * 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout')]);
      if (code === 'timeout') child.kill('SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('when npm start runs, then its Prometheus scrapes the four services and itself, all up, under the cluster job', async () => {
    const { activeTargets } = await api<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>(
      `${prometheus}/api/v1/targets`,
    );
    const byApp = activeTargets.map((t) => [t.labels.job, t.labels.app ?? '-', t.health, t.lastError]).sort();
    expect(byApp).toEqual([
      ['prometheus', '-', 'up', ''],
      ['taskmesh', 'analytics', 'up', ''],
      ['taskmesh', 'auth', 'up', ''],
      ['taskmesh', 'gateway', 'up', ''],
      ['taskmesh', 'task', 'up', ''],
    ]);
  });

  it('when the rules are listed, then every alert of the cluster is loaded and evaluated without error', async () => {
    const { groups } = await api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>(
      `${prometheus}/api/v1/rules`,
    );
    const loaded = groups.flatMap((g) => g.rules.map((r) => [r.name, r.health, r.lastError ?? '']));
    const expected = alertGroups().flatMap((g) => g.rules.map((r) => [r.alert, 'ok', '']));
    expect(loaded.sort()).toEqual(expected.sort());
  });

  it('when the service variables are resolved, then they list the four services', async () => {
    for (const [file, d] of Object.entries(grafanaDashboards() as Record<string, Dashboard>)) {
      for (const v of d.templating.list) {
        const m = /^label_values\((\w+), *(\w+)\)$/.exec(v.query.query);
        expect(m, `${file}: ${v.query.query}`).not.toBeNull();
        const values = await api<string[]>(`${prometheus}/api/v1/label/${m![2]}/values`, { 'match[]': m![1]! });
        expect(values.sort(), `${file} › $${v.name}`).toEqual(['analytics', 'auth', 'gateway', 'task']);
      }
    }
  });

  it('when every panel query is sent as Grafana sends it, then each returns a series, or is a listed conditional panel', async () => {
    const end = Date.now() / 1000;
    // Grafana's step for a range this short: the data source's minimum, the scrape interval.
    const step = SCRAPE_SECONDS;
    const empty: string[] = [];
    let asked = 0;
    for (const [file, d] of Object.entries(grafanaDashboards() as Record<string, Dashboard>)) {
      const variables = Object.fromEntries(d.templating.list.map((v) => [v.name, v.allValue ?? '.+']));
      for (const panel of d.panels.filter((p) => p.type !== 'row')) {
        for (const t of panel.targets ?? []) {
          const key = `${file} › ${panel.title} › ${t.refId}`;
          const query = asGrafanaSendsIt(t.expr, variables, step);
          const { result } = await api<{ result: unknown[] }>(`${prometheus}/api/v1/query_range`, {
            query,
            start: String(Math.floor(upAt)),
            end: String(Math.ceil(end)),
            step: `${step}s`,
          });
          asked++;
          if (result.length === 0 && !(key in CONDITIONAL_PANELS)) empty.push(`${key}: ${query}`);
        }
      }
    }
    expect(asked).toBeGreaterThan(35);
    expect(empty, 'panels without data').toEqual([]);
    // Every entry of the list names a query that exists.
    const keys = Object.entries(grafanaDashboards() as Record<string, Dashboard>).flatMap(([file, d]) =>
      d.panels.flatMap((p) => (p.targets ?? []).map((t) => `${file} › ${p.title} › ${t.refId}`)),
    );
    for (const key of Object.keys(CONDITIONAL_PANELS)) expect(keys).toContain(key);
  });

  it('when npm start is stopped, then Prometheus stops with the services and leaves no process behind', async () => {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(
      await fetch(`${prometheus}/-/ready`).then(
        () => 'answering',
        () => 'gone',
      ),
    ).toBe('gone');
    expect(out).toContain('all services stopped, Prometheus too');
  });
});

describe('a Prometheus left behind', () => {
  it('when `npm run infra:down` runs, then it stops the Prometheus that a killed npm start left in the data folder', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-down-'));
    const port = await freePort();
    const env = { ...process.env, TASKMESH_DATA_DIR: dataDir };
    try {
      // Started as npm start starts it, by a process that is then gone.
      const lib = pathToFileURL(path.join(ROOT, 'scripts', 'prometheus-lib.mjs')).href;
      const script = `const m = await import(${JSON.stringify(lib)});
        const files = await m.localPrometheusFiles({ port: ${port}, services: [{ name: 'gateway', port: 9 }] });
        await m.startPrometheus({ port: ${port}, ...files, owner: process.pid });`;
      const started = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: ROOT,
        env,
        encoding: 'utf8',
        timeout: 90_000,
      });
      expect(started.status, started.stderr).toBe(0);
      expect(fs.existsSync(path.join(dataDir, `prometheus-${port}`, 'pid'))).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/-/ready`)).status).toBe(200);

      const down = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'infra.mjs'), 'down'], {
        cwd: ROOT,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(down.status, down.stderr).toBe(0);
      expect(`${down.stdout}${down.stderr}`).toContain(`prometheus-${port}`);
      expect(
        await fetch(`http://127.0.0.1:${port}/-/ready`).then(
          () => 'answering',
          () => 'gone',
        ),
      ).toBe('gone');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
