// The gateway benchmark: `npm run bench:gateway`. In one run, against the same upstream, it
// measures the upstream itself, a bare @fastify/http-proxy, fast-gateway, @fastify/http-proxy with
// the gateway's JWT, rate-limit and breaker features, and the gateway with everything on; first at
// saturation, then at one fixed moderate rate. Each server under test runs alone on core 0; the
// load generator, the upstream behind the proxies and Redis share core 1. Only 127.0.0.1 is used,
// and every phase is bounded in time (about two minutes in all with the defaults).
// The machine may be shared: the saturation runs go round-robin over the servers, several rounds,
// and each figure is the median over rounds, each ratio the median of the ratios within a round.
// Settings: BENCH_ROUNDS (5), BENCH_DURATION_S (3), BENCH_WARMUP_S (1), BENCH_RATE_DURATION_S (5),
// BENCH_RATE (1000), BENCH_CONNECTIONS (50), BENCH_TARGETS (comma-separated keys of the servers to measure,
// e.g. `gateway` for a quick comparison; the direct upstream and the bare http-proxy are always measured).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createTestIssuer } from '@taskmesh/access-token/testing';
import autocannon from 'autocannon';
import { freePort, startRedis, stopInstance } from '../../scripts/infra-lib.mjs';

const here = import.meta.dirname;
/** A positive number from the environment, or `def` when unset or empty; anything else stops the run before it starts. */
function setting(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const value = Number(raw);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, not "${raw}"`);
  return value;
}
/** Saturation: each server, round after round, for `durationS` after `warmupS`, over `connections` connections. */
const SATURATION = {
  rounds: setting('BENCH_ROUNDS', 5),
  durationS: setting('BENCH_DURATION_S', 3),
  warmupS: setting('BENCH_WARMUP_S', 1),
  connections: setting('BENCH_CONNECTIONS', 50),
};
/** The fixed rate: at most `rate` requests/s (half the slowest server's saturation, if lower), for `durationS`. */
const FIXED_RATE = { rate: setting('BENCH_RATE', 1000), durationS: setting('BENCH_RATE_DURATION_S', 5) };

const cpus = os.availableParallelism();
const canPin = process.platform === 'linux' && cpus >= 2 && spawnSync('taskset', ['-V']).status === 0;
const SUT_CORE = '0';
const LOAD_CORE = '1';

// The load generator pins itself (all its threads) to the load core before anything else starts.
if (canPin) spawnSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });

interface Target {
  readonly key: string;
  readonly label: string;
  readonly process: ChildProcess;
  readonly url: string;
}

async function launch(key: string, label: string, core: string | undefined, env: Record<string, string>): Promise<Target> {
  const args = ['--import', 'tsx', path.join(here, 'targets.ts'), key];
  const [cmd, argv] = canPin && core !== undefined ? ['taskset', ['-c', core, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv as string[], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], cwd: here });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${key} did not start within 30 s`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${key} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { key, label, process: child, url: `http://127.0.0.1:${port}` };
}

/** CPU time (user + system) a process has used, in microseconds; undefined where /proc is absent. */
function cpuMicros(pid: number | undefined): number | undefined {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Measure {
  rps: number;
  /** CPU time the server spent per request: steadier than rps on a shared machine. */
  cpuPerRequest: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** Each connection is a different user with a token of its own, so each has its own rate-limit key. */
async function load(
  target: Target,
  tokens: readonly string[],
  opts: { duration: number; connections: number; overallRate?: number },
): Promise<Measure> {
  const before = cpuMicros(target.process.pid);
  let next = 0;
  const result = await autocannon({
    url: `${target.url}/tasks/task-42`,
    duration: opts.duration,
    connections: opts.connections,
    setupClient: (client) => client.setHeaders({ authorization: `Bearer ${tokens[next++ % tokens.length]}` }),
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  const after = cpuMicros(target.process.pid);
  return {
    rps: result.requests.average,
    cpuPerRequest:
      before !== undefined && after !== undefined && result.requests.total > 0 ? (after - before) / result.requests.total : NaN,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const load1 = os.loadavg()[0]!;
  const issuer = await createTestIssuer();
  const tokens = await Promise.all(Array.from({ length: Math.max(SATURATION.connections, 10) }, (_, i) => issuer.token(`bench-user-${i}`)));
  const redis = await startRedis({ port: await freePort() });
  if (canPin && redis.pid) spawnSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(redis.pid)], { stdio: 'ignore' });
  const targets: Target[] = [];
  try {
    const behind = await launch('upstream', 'upstream behind the proxies', LOAD_CORE, {});
    const env = { UPSTREAM_URL: behind.url, REDIS_URL: redis.url as string, JWKS_URL: issuer.jwksUrl };
    targets.push(behind);
    const measured: Target[] = [];
    const only = process.env.BENCH_TARGETS?.split(',').map((s) => s.trim());
    for (const [key, label] of [
      ['upstream', 'direct upstream (Fastify)'],
      ['http-proxy', '@fastify/http-proxy, bare'],
      ['fast-gateway', 'fast-gateway'],
      ['http-proxy+features', '@fastify/http-proxy + JWT, rate limit, breaker'],
      ['gateway', 'taskmesh gateway, everything on'],
      // Measured only when named in BENCH_TARGETS: the gateway without upstream pipelining.
      ['gateway-unpipelined', 'taskmesh gateway, no upstream pipelining'],
    ] as const) {
      if (key === 'gateway-unpipelined' && !only?.includes(key)) continue;
      if (only && key !== 'upstream' && key !== 'http-proxy' && !only.includes(key)) continue;
      const target = await launch(key, label, SUT_CORE, key === 'upstream' ? {} : env);
      targets.push(target);
      measured.push(target);
    }
    const headers = { authorization: `Bearer ${tokens[0]}` };

    // Every target must give the same answer before any figure of it counts.
    for (const t of measured) {
      const res = await fetch(`${t.url}/tasks/task-42`, { headers });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 200 || body.id !== 'task-42') throw new Error(`${t.label} answered ${res.status} ${JSON.stringify(body)}`);
    }

    const rounds: Map<string, Measure>[] = [];
    for (let round = 1; round <= SATURATION.rounds; round++) {
      const results = new Map<string, Measure>();
      for (const t of measured) {
        process.stderr.write(
          `[bench] round ${round}/${SATURATION.rounds}: ${t.label}, saturation, ${SATURATION.connections} connections, ${SATURATION.durationS} s\n`,
        );
        await load(t, tokens, { duration: SATURATION.warmupS, connections: SATURATION.connections });
        results.set(t.key, await load(t, tokens, { duration: SATURATION.durationS, connections: SATURATION.connections }));
      }
      rounds.push(results);
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const over = (key: string, pick: (m: Measure, round: Map<string, Measure>) => number) =>
      median(rounds.map((r) => pick(r.get(key)!, r)));
    const saturation = new Map<string, Measure & { vsDirect: number; vsBare: number; cpuVsBare: number }>(
      measured.map((t) => [
        t.key,
        {
          rps: over(t.key, (m) => m.rps),
          cpuPerRequest: over(t.key, (m) => m.cpuPerRequest),
          p50: over(t.key, (m) => m.p50),
          p99: over(t.key, (m) => m.p99),
          non2xx: rounds.reduce((n, r) => n + r.get(t.key)!.non2xx, 0),
          errors: rounds.reduce((n, r) => n + r.get(t.key)!.errors, 0),
          vsDirect: over(t.key, (m, r) => m.rps / r.get('upstream')!.rps),
          vsBare: over(t.key, (m, r) => m.rps / r.get('http-proxy')!.rps),
          cpuVsBare: over(t.key, (m, r) => r.get('http-proxy')!.cpuPerRequest / m.cpuPerRequest),
        },
      ]),
    );
    const slowest = Math.min(...[...saturation.values()].map((m) => m.rps));
    const rate = Math.max(100, Math.min(FIXED_RATE.rate, Math.floor(slowest / 2 / 100) * 100));
    const fixed = new Map<string, Measure>();
    for (const t of measured) {
      process.stderr.write(`[bench] ${t.label}: ${rate} requests/s, ${FIXED_RATE.durationS} s\n`);
      fixed.set(t.key, await load(t, tokens, { duration: FIXED_RATE.durationS, connections: 10, overallRate: rate }));
    }

    const ms = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
    const rows = measured.map((t) => {
      const s = saturation.get(t.key)!;
      const f = fixed.get(t.key)!;
      const flagged = s.non2xx + s.errors + f.non2xx + f.errors;
      return [
        t.label,
        Math.round(s.rps).toString(),
        ms(s.p50),
        ms(s.p99),
        ms(f.p50),
        ms(f.p99),
        `${(s.vsDirect * 100).toFixed(1)}%`,
        `${s.vsBare.toFixed(2)}x`,
        Number.isNaN(s.cpuPerRequest) ? '-' : Math.round(s.cpuPerRequest).toString(),
        Number.isNaN(s.cpuVsBare) ? '-' : `${s.cpuVsBare.toFixed(2)}x`,
        flagged > 0 ? `${flagged} non-2xx/errors` : '',
      ];
    });
    const head = [
      'server',
      'rps (sat.)',
      'p50 ms',
      'p99 ms',
      `p50 @${rate}/s`,
      `p99 @${rate}/s`,
      'vs direct',
      'vs bare http-proxy',
      'CPU µs/req',
      'req per CPU-s vs bare',
      '',
    ];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    const load2 = os.loadavg()[0]!;
    console.log('');
    console.log(
      `gateway benchmark: GET /tasks/:id, one user (bearer token) per connection; saturation: ${SATURATION.connections} connections, ${SATURATION.rounds} rounds of ${SATURATION.durationS} s (medians); fixed rate: ${rate} requests/s for ${FIXED_RATE.durationS} s`,
    );
    console.log(
      canPin
        ? `servers under test pinned to core ${SUT_CORE}; load generator, the upstream behind the proxies and Redis on core ${LOAD_CORE} (${cpus} cores)`
        : `not pinned (${process.platform}, ${cpus} cores, taskset ${canPin ? 'present' : 'absent'}): figures are less comparable`,
    );
    console.log(
      `1-minute load average ${load1.toFixed(2)} at start, ${load2.toFixed(2)} at end: compare ratios from one run, not absolute numbers across runs`,
    );
    console.log(line(head));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
  } finally {
    for (const t of targets) t.process.kill('SIGTERM');
    await stopInstance(redis);
    await issuer.close();
  }
}

const deadline = setTimeout(() => {
  console.error('[bench] did not finish within 5 minutes; giving up');
  process.exit(1);
}, 5 * 60_000);
deadline.unref();
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
