/**
 * Schemathesis (PyPI), installed once with pip into a virtual environment in the cache, and run
 * as a child process whose report is read back as JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CACHE_DIR, buildOnce, elapsed } from '../scripts/infra-lib.mjs';

export const SCHEMATHESIS_VERSION = '4.32.5';

const ROOT = path.join(CACHE_DIR, `schemathesis-${SCHEMATHESIS_VERSION}`);
const BIN = path.join(ROOT, 'bin', 'st');
const MARKER = path.join(ROOT, '.installed');
const LOG = `${ROOT}.install.log`;

const say = (msg: string) => process.stderr.write(`[schemathesis] ${msg}\n`);

function tail(file: string, lines = 15): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `    | ${l}`)
      .join('\n');
  } catch {
    return '';
  }
}

function python(): string {
  for (const candidate of ['python3.13', 'python3.12', 'python3', 'python']) {
    const r = spawnSync(candidate, ['-c', 'import sys, venv; print(sys.version_info >= (3, 9))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return candidate;
  }
  throw new Error(
    'schemathesis: Python 3.9 or newer with the venv module is needed to install it (`apt-get install -y python3 python3-venv`)',
  );
}

function step(cmd: string, args: string[], logFd: number, timeoutMs: number): Promise<number | string> {
  const child = spawn(cmd, args, { stdio: ['ignore', logFd, logFd], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
  const killer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      resolve(code ?? signal ?? 'killed');
    }),
  );
}

/** The venv's Python version, `[major, minor, micro]`. */
export function schemathesisPython(): [number, number, number] {
  const r = spawnSync(path.join(ROOT, 'bin', 'python'), ['-c', 'import sys; print(*sys.version_info[:3])'], { encoding: 'utf8' });
  const [major = 0, minor = 0, micro = 0] = r.stdout.trim().split(' ').map(Number);
  return [major, minor, micro];
}

/**
 * Whether this Python has CPython gh-106905: building ASTs from two threads at once can fail with
 * "AST constructor recursion depth mismatch" (fixed in 3.11.8 and 3.12.1). Schemathesis then
 * reports a runtime error in a phase now and then, so it runs with one worker on such a Python.
 */
export function hasThreadedAstBug([major, minor, micro]: [number, number, number]): boolean {
  return major === 3 && ((minor === 11 && micro < 8) || (minor === 12 && micro < 1));
}

/**
 * The `st` command of the pinned schemathesis, installed on first use into
 * `<cache>/schemathesis-<version>` (a venv; about half a minute with a warm pip cache), with
 * progress and elapsed time, one installer at a time, bounded by `timeoutMs`.
 */
export async function ensureSchemathesis({ timeoutMs = 10 * 60_000 } = {}): Promise<string> {
  if (fs.existsSync(MARKER) && fs.existsSync(BIN)) return BIN;
  const py = python();
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const t0 = Date.now();
  await buildOnce(`${ROOT}.lock`, {
    component: 'schemathesis',
    logFile: LOG,
    timeoutMs,
    done: () => fs.existsSync(MARKER) && fs.existsSync(BIN),
    build: () => install(py, t0, timeoutMs),
  });
  return BIN;
}

async function install(py: string, t0: number, timeoutMs: number): Promise<void> {
  say(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${ROOT} (once; log: ${LOG})...`);
  fs.rmSync(ROOT, { recursive: true, force: true });
  const log = fs.openSync(LOG, 'w');
  const ticker = setInterval(
    () =>
      say(
        `still installing, ${elapsed(t0)} elapsed (${tail(LOG, 1)
          .replace(/^\s*\|\s*/, '')
          .slice(0, 100)})`,
      ),
    15_000,
  );
  try {
    const venv = await step(py, ['-m', 'venv', ROOT], log, timeoutMs);
    if (venv !== 0) throw new Error(`schemathesis: \`${py} -m venv ${ROOT}\` failed (${venv})\n  log: ${LOG}\n${tail(LOG)}`);
    const pip = await step(
      path.join(ROOT, 'bin', 'pip'),
      ['install', `schemathesis==${SCHEMATHESIS_VERSION}`],
      log,
      timeoutMs - (Date.now() - t0),
    );
    if (pip !== 0) {
      throw new Error(
        `schemathesis: \`pip install schemathesis==${SCHEMATHESIS_VERSION}\` failed (${pip}) after ${elapsed(t0)}\n  log: ${LOG}\n${tail(LOG)}`,
      );
    }
  } finally {
    clearInterval(ticker);
    fs.closeSync(log);
  }
  const version = spawnSync(BIN, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0 || !version.stdout.includes(SCHEMATHESIS_VERSION)) {
    throw new Error(
      `schemathesis: the installed \`st --version\` answered ${JSON.stringify(version.stdout || version.stderr)}\n  log: ${LOG}`,
    );
  }
  fs.writeFileSync(MARKER, `${SCHEMATHESIS_VERSION}\n`);
  say(`schemathesis ${SCHEMATHESIS_VERSION} installed in ${elapsed(t0)}`);
}

/** The parts of schemathesis' JSON report the test reads. */
export interface SchemathesisReport {
  schemathesis_version: string;
  exit_code: number;
  complete: boolean;
  operations: { total: number; selected: number; tested: number; errored: number };
  phases: Record<string, { status: string; skip_reason: string | null }>;
  test_cases: { generated: number; with_failures: number; unique_failures: number; without_checks: number; errored: number };
  failures: { code: string; title: string; count: number; operations: string[] }[];
  errors: unknown[];
}

export interface SchemathesisRun {
  readonly exitCode: number | string;
  /** Everything it printed: the failures with their reproductions. */
  readonly output: string;
  readonly report: SchemathesisReport | undefined;
}

/** Runs `st run <args>` with a JSON report, killed after `timeoutMs`. */
export async function runSchemathesis(
  bin: string,
  args: readonly string[],
  opts: { readonly timeoutMs: number; readonly configFile?: string; readonly env?: Readonly<Record<string, string>> },
): Promise<SchemathesisRun> {
  const reportDir = fs.mkdtempSync(path.join(CACHE_DIR, 'schemathesis-report-'));
  const reportPath = path.join(reportDir, 'report.json');
  try {
    const config = opts.configFile ? ['--config-file', opts.configFile] : [];
    const child = spawn(bin, [...config, '--no-color', 'run', ...args, '--report', 'json', '--report-json-path', reportPath], {
      cwd: reportDir,
      // No colours, no progress bars, nothing sent anywhere but the API under test.
      env: { ...process.env, ...opts.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false', PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    const exitCode = await new Promise<number | string>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'killed')),
    );
    clearTimeout(killer);
    const report = fs.existsSync(reportPath) ? (JSON.parse(fs.readFileSync(reportPath, 'utf8')) as SchemathesisReport) : undefined;
    return { exitCode, output, report };
  } finally {
    fs.rmSync(reportDir, { recursive: true, force: true });
  }
}
