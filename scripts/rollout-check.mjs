#!/usr/bin/env node
// `npm run rollout-check`: keeps a steady load on BASE_URL while a command runs (a rolling
// restart, a scale-down, a node drain) and fails on a single failed request. The load starts
// --warmup seconds before the command and goes on for --settle seconds after it, so requests in
// flight while the last old pod drains are counted too.
//
//   BASE_URL=http://127.0.0.1:8080 node scripts/rollout-check.mjs \
//     --command 'kubectl rollout restart deploy/task -n taskmesh && kubectl rollout status deploy/task -n taskmesh'
//
// Exit codes: 0 no request failed and the command succeeded, 1 a request failed (or the setup
// deviated), 2 bad usage, 4 the command failed or ran out of time.
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

const HELP = `usage: node scripts/rollout-check.mjs --command CMD [options]

  --command CMD        the shell command to run under load (required)
  --base-url URL       the gateway (default: $BASE_URL or http://127.0.0.1:8080)
  --scenario NAME      tasks (4 reads : 1 create, default), read, or health (no token)
  --rps N              steady overall rate (default 20)
  --concurrency N      workers, enough to hold the rate at the expected latency (default 8)
  --warmup S           load before the command starts (default 5)
  --settle S           load after the command ends (default 10)
  --timeout S          the command's time limit (default 600)
  --json               print the summary as one JSON line as well
`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the command with its output passed through; resolves with how it ended. */
function runCommand(command, timeoutMs, log) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const relay = (stream) => {
      let buf = '';
      stream.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          log(`  | ${buf.slice(0, i)}`);
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => buf && log(`  | ${buf}`));
    };
    relay(child.stdout);
    relay(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL'); // the whole group: `a && b` leaves b's children behind otherwise
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, timedOut, seconds: 0, error: err.message });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), timedOut, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/**
 * @param {{ baseUrl: string, command: string, scenario?: string, rps?: number, concurrency?: number,
 *   warmupMs?: number, settleMs?: number, timeoutMs?: number, log?: (line: string) => void }} opts
 */
export async function rolloutCheck({
  baseUrl,
  command,
  scenario = 'tasks',
  rps = 20,
  concurrency = 8,
  warmupMs = 5000,
  settleMs = 10_000,
  timeoutMs = 600_000,
  log = console.log,
}) {
  const { scenario: next, needsSession } = scenarioByName(scenario);
  const client = needsSession ? (await createSession(baseUrl, { prefix: 'rollout' })).api : new ApiClient(baseUrl);
  log(`rollout check: ${scenario} at ${rps} req/s against ${baseUrl}; command: ${command}`);

  const stats = new LoadStats();
  const abort = new AbortController();
  const loadDone = generateLoad({
    client,
    scenario: next,
    concurrency,
    rps,
    // The ceiling only guards against a hung command: the run stops on the abort below.
    durationMs: warmupMs + timeoutMs + settleMs + 5000,
    stats,
    signal: abort.signal,
  });

  await sleep(warmupMs);
  const beforeCommand = stats.total;
  log(`  warm-up done: ${beforeCommand} requests, ${stats.failed} failed; running the command`);
  const result = await runCommand(command, timeoutMs, log);
  log(
    `  command ${result.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exited ${result.code}`} after ${result.seconds.toFixed(1)} s; settling for ${settleMs / 1000} s`,
  );
  await sleep(settleMs);
  abort.abort();
  await loadDone;

  const summary = stats.summary();
  log(formatSummary(summary));
  if (stats.firstFailures.length > 0) {
    log('  failed requests:');
    for (const f of stats.firstFailures) log(`    +${(f.atMs / 1000).toFixed(1)}s ${f.summary}`);
  }
  let code = 0;
  if (summary.failed > 0) {
    log(`rollout check FAILED: ${summary.failed} of ${summary.requests} requests failed during the rollout`);
    code = 1;
  } else if (result.timedOut || result.code !== 0) {
    log(`rollout check FAILED: the command ${result.timedOut ? 'ran out of time' : `exited ${result.code}`}`);
    code = 4;
  } else if (summary.requests === 0) {
    log('rollout check FAILED: no request completed');
    code = 1;
  } else {
    log(
      `rollout check passed: ${summary.requests} requests, none failed, ${stats.total - beforeCommand} of them during and after the command`,
    );
  }
  return { code, summary, command: result };
}

async function main() {
  const { values } = parseArgs({
    options: {
      command: { type: 'string' },
      'base-url': { type: 'string' },
      scenario: { type: 'string', default: 'tasks' },
      rps: { type: 'string' },
      concurrency: { type: 'string', short: 'c' },
      warmup: { type: 'string' },
      settle: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.command) throw new UsageError('--command is required');
  const result = await rolloutCheck({
    baseUrl: baseUrlFrom(values['base-url']),
    command: values.command,
    scenario: values.scenario,
    rps: numberOption('rps', values.rps, 20, { min: 0.1, max: 10_000 }),
    concurrency: numberOption('concurrency', values.concurrency, 8, { min: 1, max: 1024, integer: true }),
    warmupMs: 1000 * numberOption('warmup', values.warmup, 5, { min: 0, max: 600 }),
    settleMs: 1000 * numberOption('settle', values.settle, 10, { min: 0, max: 600 }),
    timeoutMs: 1000 * numberOption('timeout', values.timeout, 600, { min: 1, max: 3600 }),
  });
  if (values.json) console.log(JSON.stringify({ ...result.summary, commandExit: result.command.code, exitCode: result.code }));
  return result.code;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      const code = err instanceof UsageError || String(err?.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
      process.stderr.write(`rollout check FAILED: ${err.message}\n`);
      if (code === 2) process.stderr.write(`\n${HELP}`);
      process.exit(code);
    },
  );
}
