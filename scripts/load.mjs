#!/usr/bin/env node
// `npm run load`: N concurrent workers send a scenario's requests to BASE_URL for a bounded time
// and print the rate, latency percentiles and failures. With --until, the run stops as soon as a
// shell command succeeds (e.g. "an HPA has more replicas than its minimum") and fails if it never
// does, which is how the end-to-end job proves that load makes the cluster scale.
//
//   BASE_URL=http://127.0.0.1:8080 node scripts/load.mjs --concurrency 16 --duration 60
//
// Exit codes: 0 passed, 1 too many failed requests (or the setup deviated), 2 bad usage,
// 3 the --until command never succeeded within the duration.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApiClient,
  LoadStats,
  UsageError,
  baseUrlFrom,
  createSession,
  formatSummary,
  generateLoad,
  numberOption,
  scenarioByName,
} from './traffic-lib.mjs';

const HELP = `usage: node scripts/load.mjs [options]

  --base-url URL          the gateway (default: $BASE_URL or http://127.0.0.1:8080)
  --scenario NAME         tasks (4 reads : 1 create, default), read, or health (no token)
  --concurrency N         concurrent workers (default 16)
  --duration S            how long to run (default 60; at most --max-duration)
  --max-duration S        the ceiling for --duration (default 600)
  --rps N                 cap the overall rate at N requests a second (default: as fast as possible)
  --max-error-rate R      fail when more than this share of requests failed (default 0.01)
  --until CMD             stop early once this shell command exits 0 (checked every --until-interval)
  --until-interval S      seconds between --until checks (default 5)
  --json                  print the summary as one JSON line as well
`;

/** Runs a shell command to completion; resolves with its exit code (never rejects). */
function runShell(command, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', () => resolve(127));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}

/**
 * @param {{ baseUrl: string, scenario?: string, concurrency?: number, durationMs?: number, rps?: number,
 *   maxErrorRate?: number, until?: string, untilIntervalMs?: number, progress?: boolean, log?: (line: string) => void }} opts
 * @returns {Promise<{ code: number, summary: ReturnType<LoadStats['summary']>, untilMet?: boolean }>}
 */
export async function load({
  baseUrl,
  scenario = 'tasks',
  concurrency = 16,
  durationMs = 60_000,
  rps = 0,
  maxErrorRate = 0.01,
  until,
  untilIntervalMs = 5000,
  progress = true,
  log = console.log,
}) {
  const { scenario: next, needsSession } = scenarioByName(scenario);
  const client = needsSession ? (await createSession(baseUrl, { prefix: 'load' })).api : new ApiClient(baseUrl);
  log(
    `load: ${scenario} against ${baseUrl}, ${concurrency} workers, up to ${durationMs / 1000} s${rps ? `, at most ${rps} req/s` : ''}${until ? `, until: ${until}` : ''}`,
  );

  const stats = new LoadStats();
  const abort = new AbortController();
  let untilMet;
  const timers = [];
  if (progress) {
    let last = { t: performance.now(), n: 0 };
    timers.push(
      setInterval(() => {
        const now = performance.now();
        const s = stats.summary(now);
        const rate = ((stats.total - last.n) * 1000) / (now - last.t);
        last = { t: now, n: stats.total };
        log(
          `  t=${String(Math.round(s.seconds)).padStart(4)}s  ${rate.toFixed(0).padStart(6)} req/s  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  failed ${s.failed}`,
        );
      }, 5000),
    );
  }
  let checking = false;
  if (until) {
    untilMet = false;
    timers.push(
      setInterval(async () => {
        if (checking || abort.signal.aborted) return;
        checking = true;
        const code = await runShell(until, { timeoutMs: Math.max(untilIntervalMs * 4, 30_000) });
        checking = false;
        if (code === 0 && !abort.signal.aborted) {
          untilMet = true;
          log(`  --until command succeeded after ${stats.summary().seconds} s: stopping`);
          abort.abort();
        }
      }, untilIntervalMs),
    );
  }

  try {
    await generateLoad({ client, scenario: next, concurrency, durationMs, rps, stats, signal: abort.signal });
  } finally {
    for (const t of timers) clearInterval(t);
  }

  const summary = stats.summary();
  log(formatSummary(summary));
  if (stats.firstFailures.length > 0) {
    log('  first failures:');
    for (const f of stats.firstFailures.slice(0, 10)) log(`    +${(f.atMs / 1000).toFixed(1)}s ${f.summary}`);
  }
  const errorRate = summary.requests === 0 ? 1 : summary.failed / summary.requests;
  let code = 0;
  if (summary.requests === 0) {
    log('load FAILED: no request completed');
    code = 1;
  } else if (errorRate > maxErrorRate) {
    log(`load FAILED: ${(errorRate * 100).toFixed(2)}% of requests failed (allowed ${(maxErrorRate * 100).toFixed(2)}%)`);
    code = 1;
  } else if (until && !untilMet) {
    log(`load FAILED: the --until command did not succeed within ${durationMs / 1000} s`);
    code = 3;
  }
  return { code, summary, untilMet };
}

async function main() {
  const { values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      scenario: { type: 'string', default: 'tasks' },
      concurrency: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      'max-duration': { type: 'string' },
      rps: { type: 'string' },
      'max-error-rate': { type: 'string' },
      until: { type: 'string' },
      'until-interval': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const maxDuration = numberOption('max-duration', values['max-duration'], 600, { min: 1, max: 86_400 });
  const duration = numberOption('duration', values.duration, 60, { min: 1, max: maxDuration });
  const result = await load({
    baseUrl: baseUrlFrom(values['base-url']),
    scenario: values.scenario,
    concurrency: numberOption('concurrency', values.concurrency, 16, { min: 1, max: 1024, integer: true }),
    durationMs: duration * 1000,
    rps: numberOption('rps', values.rps, 0, { min: 0, max: 100_000 }),
    maxErrorRate: numberOption('max-error-rate', values['max-error-rate'], 0.01, { min: 0, max: 1 }),
    until: values.until,
    untilIntervalMs: 1000 * numberOption('until-interval', values['until-interval'], 5, { min: 0.2, max: 600 }),
  });
  if (values.json) console.log(JSON.stringify({ ...result.summary, untilMet: result.untilMet, exitCode: result.code }));
  return result.code;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      const code = err instanceof UsageError || String(err?.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
      process.stderr.write(`load FAILED: ${err.message}\n`);
      if (code === 2) process.stderr.write(`\n${HELP}`);
      process.exit(code);
    },
  );
}
