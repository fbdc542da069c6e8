#!/usr/bin/env node
// `npm run measure:resources`: the figures the Kubernetes requests of the four services are set
// from (docs/kubernetes.md, Requests from measurements). Starts the stack with scripts/start.mjs
// on free ports (no Prometheus, a private auth key folder, the API rate limit raised so that the
// limiter is not what is measured), then reads each service process's CPU time (user + system,
// /proc/<pid>/stat) and RSS (/proc/<pid>/status) while it idles, and while scripts/load.mjs sends
// a bounded steady load through the gateway on 127.0.0.1. Prints one table and one JSON line.
//
//   node scripts/measure-resources.mjs [--idle 30] [--duration 30] [--rps 100] [--concurrency 8]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, freePort } from './infra-lib.mjs';

const { values: opts } = parseArgs({
  options: {
    idle: { type: 'string', default: '30' },
    duration: { type: 'string', default: '30' },
    rps: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8' },
    scenario: { type: 'string', default: 'tasks' },
  },
});
const num = (name, max) => {
  const n = Number(opts[name]);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    console.error(`--${name} must be a number above 0 and at most ${max} (got ${opts[name]})`);
    process.exit(2);
  }
  return n;
};
const IDLE_S = num('idle', 600);
const LOAD_S = num('duration', 600);
const RPS = num('rps', 10_000);
const CONCURRENCY = num('concurrency', 256);

const t0 = Date.now();
const say = (msg) => process.stderr.write(`[measure ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** User + system CPU seconds of a process. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
/** Resident set size in MiB. */
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const ports = {
  AUTH_PORT: await freePort(),
  TASK_PORT: await freePort(),
  ANALYTICS_PORT: await freePort(),
  GATEWAY_PORT: await freePort(),
};
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-measure-keys-'));
const baseUrl = `http://127.0.0.1:${ports.GATEWAY_PORT}`;
const stack = spawn(process.execPath, [path.join(ROOT, 'scripts/start.mjs')], {
  cwd: ROOT,
  env: {
    ...process.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    PROMETHEUS_PORT: '0',
    AUTH_KEY_DIR: keyDir,
    RATE_LIMIT_API_PER_MINUTE: '1000000',
    RATE_LIMIT_AUTH_PER_MINUTE: '10000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const logPath = path.join(keyDir, 'stack.log');
const log = fs.createWriteStream(logPath);
stack.stderr.pipe(log);
let up = false;
const upOrExit = new Promise((resolve, reject) => {
  let out = '';
  stack.stdout.on('data', (chunk) => {
    log.write(chunk);
    out += chunk;
    if (!up && out.includes('taskmesh is up')) {
      up = true;
      resolve();
    }
  });
  stack.once('exit', (code) => reject(new Error(`scripts/start.mjs exited (code ${code}) before the stack was up; log: ${logPath}`)));
  setTimeout(() => reject(new Error(`the stack was not up within 120 s; log: ${logPath}`)), 120_000).unref();
});

async function stop(code) {
  if (stack.exitCode === null) {
    const exited = new Promise((r) => stack.once('exit', r));
    stack.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
  }
  fs.rmSync(keyDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void stop(130));

try {
  say(`starting the stack (gateway ${baseUrl})`);
  await upOrExit;
} catch (err) {
  console.error(err.message);
  await stop(1);
}

// The four service processes are start.mjs's children; each is told apart by its dist/server.js.
const children = fs.readFileSync(`/proc/${stack.pid}/task/${stack.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
const pids = {};
for (const pid of children) {
  const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  for (const name of ['gateway', 'auth', 'task', 'analytics']) {
    const dir = name === 'gateway' ? 'gateway/dist/server.js' : `services/${name}/dist/server.js`;
    if (cmd.includes(dir)) pids[name] = pid;
  }
}
const names = ['gateway', 'auth', 'task', 'analytics'];
if (names.some((n) => !pids[n])) {
  console.error(`could not find every service process among ${children.join(', ')}: ${JSON.stringify(pids)}`);
  await stop(1);
}

/** Samples every second while `during` runs (or for `seconds`): CPU share of one core over the window, RSS peak and last. */
async function window(label, seconds, during) {
  const cpu0 = Object.fromEntries(names.map((n) => [n, cpuSeconds(pids[n])]));
  const peak = Object.fromEntries(names.map((n) => [n, rssMiB(pids[n])]));
  const w0 = performance.now();
  let done = false;
  const work = (during ? during() : sleep(seconds * 1000)).finally(() => (done = true));
  while (!done) {
    await Promise.race([work.catch(() => {}), sleep(1000)]);
    for (const n of names) peak[n] = Math.max(peak[n], rssMiB(pids[n]));
  }
  const result = await work;
  const wall = (performance.now() - w0) / 1000;
  const rows = Object.fromEntries(
    names.map((n) => [n, { cpuMillicores: ((cpuSeconds(pids[n]) - cpu0[n]) / wall) * 1000, rssPeakMiB: peak[n], rssEndMiB: rssMiB(pids[n]) }]),
  );
  say(`${label}: ${wall.toFixed(1)} s measured`);
  return { wall, rows, result };
}

function runLoad() {
  return new Promise((resolve, reject) => {
    const args = [
      path.join(ROOT, 'scripts/load.mjs'),
      '--base-url', baseUrl,
      '--scenario', opts.scenario,
      '--concurrency', String(CONCURRENCY),
      '--duration', String(LOAD_S),
      '--rps', String(RPS),
      '--json',
    ];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => {
      const json = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      if (code !== 0) reject(new Error(`load.mjs exited with ${code}:\n${out}`));
      else resolve(json ? JSON.parse(json) : out);
    });
  });
}

try {
  say('settling 10 s after start');
  await sleep(10_000);
  const idle = await window(`idle ${IDLE_S} s`, IDLE_S);
  say(`load: ${opts.scenario}, ${RPS} req/s, ${CONCURRENCY} workers, ${LOAD_S} s`);
  const load = await window('load', LOAD_S, runLoad);
  const summary = load.result;
  const rate = typeof summary === 'object' ? (summary.rps ?? summary.rate ?? summary.throughput) : undefined;
  const fmt = (x, d = 0) => x.toFixed(d).padStart(8);
  console.log(`\nmeasured ${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`load: ${opts.scenario} scenario, --rps ${RPS} --concurrency ${CONCURRENCY} --duration ${LOAD_S}${rate ? `, ${Number(rate).toFixed(1)} req/s reached` : ''}`);
  console.log('service    idle m   idle RSS   load m   load RSS peak');
  for (const n of names) {
    const i = idle.rows[n];
    const l = load.rows[n];
    console.log(`${n.padEnd(9)} ${fmt(i.cpuMillicores, 1)} ${fmt(i.rssPeakMiB, 1)} ${fmt(l.cpuMillicores, 1)} ${fmt(l.rssPeakMiB, 1)}`);
  }
  console.log(JSON.stringify({ date: new Date().toISOString(), loadavg: os.loadavg(), idle: idle.rows, load: load.rows, loadSummary: summary }));
  await stop(0);
} catch (err) {
  console.error(err.message);
  await stop(1);
}
