#!/usr/bin/env node
// `npm start`: runs the gateway and the three services against the local infrastructure, and a
// Prometheus scraping them with the cluster's job and rules, waits until each is ready, prints
// where to go, and stops them all cleanly on Ctrl-C.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DATA_DIR, ROOT, stackConfig } from './infra-lib.mjs';
import { NODE_RUNTIME_ENV } from './node-runtime.mjs';
import { ensurePrometheusInstalled, localPrometheusFiles, startPrometheus, stopPrometheus } from './prometheus-lib.mjs';

const infra = stackConfig();
const port = (name, fallback) => Number(process.env[name] || fallback);
const services = [
  { name: 'auth', dir: 'services/auth', port: port('AUTH_PORT', 3001) },
  { name: 'task', dir: 'services/task', port: port('TASK_PORT', 3002) },
  { name: 'analytics', dir: 'services/analytics', port: port('ANALYTICS_PORT', 3003) },
  { name: 'gateway', dir: 'gateway', port: port('GATEWAY_PORT', 8080) },
];
const [AUTH, TASK, ANALYTICS, GATEWAY] = services.map((s) => `http://127.0.0.1:${s.port}`);
/** 0 runs without Prometheus. */
const PROMETHEUS_PORT = port('PROMETHEUS_PORT', 9090);
/** The cluster's 15 s unless asked otherwise (tests scrape faster). */
const PROMETHEUS_INTERVAL = process.env.PROMETHEUS_SCRAPE_INTERVAL || undefined;

const env = {
  ...process.env,
  REDIS_URL: infra.redisUrl,
  KAFKA_BROKERS: infra.kafkaBrokers,
  MONGODB_URI: infra.mongodbUri,
  AUTH_URL: AUTH,
  TASK_URL: TASK,
  ANALYTICS_URL: ANALYTICS,
  JWKS_URL: `${AUTH}/.well-known/jwks.json`,
  AUTH_KEY_DIR: process.env.AUTH_KEY_DIR ?? path.join(DATA_DIR, 'auth-keys'),
  ADMIN_EMAILS: process.env.ADMIN_EMAILS ?? 'admin@example.com',
  NODE_ENV: process.env.NODE_ENV ?? 'development',
};

const COLORS = { auth: 35, task: 36, analytics: 33, gateway: 32 };
const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const tty = process.stdout.isTTY;
const tag = (name) => (tty ? `\x1b[${COLORS[name]}m${name.padEnd(9)}\x1b[0m` : name.padEnd(9));

/** pino JSON in, one readable line out. */
function pretty(line) {
  let rec;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  const time = new Date(rec.time ?? Date.now()).toISOString().slice(11, 23);
  const parts = [time, LEVELS[rec.level] ?? rec.level, rec.msg ?? ''];
  if (rec.req) parts.push(`${rec.req.method} ${rec.req.url}`);
  if (rec.res) parts.push(`-> ${rec.res.statusCode}`);
  if (rec.responseTime !== undefined) parts.push(`${rec.responseTime.toFixed(1)}ms`);
  if (rec.err) parts.push(`| ${rec.err.type ?? ''}: ${rec.err.message ?? ''}`);
  return parts.join(' ');
}

const children = new Map();
let stopping = false;
/** The Prometheus started here, stopped with the services. */
let prometheus;
/** Settles once Prometheus is started or given up on. */
let prometheusStarting;

function launch(svc) {
  // The tracing preload and node-runtime.env, as in the images: spans leave the process only when
  // OTEL_* asks for it.
  const child = spawn(process.execPath, ['--import', '@taskmesh/telemetry/register', path.join(ROOT, svc.dir, 'dist', 'server.js')], {
    cwd: path.join(ROOT, svc.dir),
    env: { ...env, ...NODE_RUNTIME_ENV, PORT: String(svc.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(svc.name, child);
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        process.stdout.write(`${tag(svc.name)} ${pretty(buf.slice(0, i))}\n`);
        buf = buf.slice(i + 1);
      }
    });
  }
  child.on('exit', (code, signal) => {
    children.delete(svc.name);
    if (!stopping) {
      console.error(`${tag(svc.name)} exited (${signal ?? `code ${code}`}); stopping the others`);
      void stopAll(1);
    }
  });
}

async function waitReady(svc, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!children.has(svc.name)) throw new Error(`${svc.name} exited before it was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${svc.port}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${svc.name} was not ready within ${timeoutMs / 1000} s (last answer: ${last})`);
}

async function stopAll(code) {
  // A second call (a service exiting while the start fails) waits for the first, which exits.
  if (stopping) return new Promise(() => {});
  stopping = true;
  console.error('\nstopping services...');
  const exits = [...children.values()].map((c) => new Promise((resolve) => c.once('exit', resolve)));
  for (const c of children.values()) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children.values()) c.kill('SIGKILL');
  }, 15_000);
  await Promise.all(exits);
  clearTimeout(timer);
  await prometheusStarting;
  if (prometheus) await stopPrometheus(PROMETHEUS_PORT).catch((err) => console.error(`prometheus: ${err.message}`));
  console.error(
    `all services stopped${prometheus ? ', Prometheus too' : ''}. The infrastructure keeps running: \`npm run infra:down\` stops it.`,
  );
  process.exit(code);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

/** Prometheus is a help, not a part of the system: without it the services still start. */
async function startLocalPrometheus() {
  if (PROMETHEUS_PORT === 0) return 'not started (PROMETHEUS_PORT=0)';
  try {
    const files = await localPrometheusFiles({ port: PROMETHEUS_PORT, services, interval: PROMETHEUS_INTERVAL });
    prometheus = await startPrometheus({ port: PROMETHEUS_PORT, ...files, owner: process.pid });
    return undefined;
  } catch (err) {
    console.error(`prometheus: not started: ${err.message}`);
    return `not started: ${err.message.split('\n')[0]}`;
  }
}

// A first run builds Prometheus (minutes); before the services, so its progress reads clearly.
let prometheusProblem;
if (PROMETHEUS_PORT !== 0) {
  try {
    await ensurePrometheusInstalled();
  } catch (err) {
    console.error(`prometheus: ${err.message}`);
    prometheusProblem = `not started: ${err.message.split('\n')[0]}`;
  }
}

const t0 = Date.now();
for (const svc of services) launch(svc);
try {
  prometheusStarting = prometheusProblem ? Promise.resolve(prometheusProblem) : startLocalPrometheus();
  const [, problem] = await Promise.all([Promise.all(services.map((svc) => waitReady(svc))), prometheusStarting]);
  prometheusProblem = problem;
} catch (err) {
  console.error(`\nstart failed: ${err.message}`);
  await stopAll(1);
}
const PROM = prometheus?.url;

console.log(`
  taskmesh is up in ${((Date.now() - t0) / 1000).toFixed(1)} s
  gateway   ${GATEWAY}   (API docs: ${GATEWAY}/docs)
  prometheus ${PROM ? `${PROM}   (rules: ${PROM}/api/v1/rules, alerts: ${PROM}/api/v1/alerts; HTTP API only, no web UI)` : prometheusProblem}

  try:
    curl -s -XPOST ${GATEWAY}/auth/register -H 'content-type: application/json' -d '{"email":"ada@example.com","password":"correct horse battery"}'
    TOKEN=$(curl -s -XPOST ${GATEWAY}/auth/login -H 'content-type: application/json' -d '{"email":"ada@example.com","password":"correct horse battery"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).accessToken')
    curl -s -XPOST ${GATEWAY}/tasks -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"title":"write the docs"}'
    curl -s ${GATEWAY}/tasks -H "authorization: Bearer $TOKEN"
    curl -s ${GATEWAY}/analytics/me -H "authorization: Bearer $TOKEN"${
      PROM
        ? `\n    curl -s ${PROM}/api/v1/query --data-urlencode 'query=sum by (service) (rate(http_request_duration_seconds_count[1m]))'`
        : ''
    }

  Ctrl-C stops the services${PROM ? ' and Prometheus' : ''}.
`);
