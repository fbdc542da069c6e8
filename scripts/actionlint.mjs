#!/usr/bin/env node
// actionlint for the workflows under .github/workflows, installed by the project itself: built
// once with `go install` from the Go module proxy into the tools cache, so a fresh machine (or a
// GitHub runner) needs nothing but Go. shellcheck, when present, checks every `run:` script too;
// it is installed from Debian's packages when we are root and apt-get exists, because GitHub's
// runners have it and a script that only passes without it would fail there.
//
//   node scripts/actionlint.mjs [files...]     (npm run lint:workflows)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE_DIR, ROOT } from './infra-lib.mjs';

export const ACTIONLINT_VERSION = 'v1.7.12';
export const TOOLS_DIR = path.join(CACHE_DIR, 'tools');
export const WORKFLOWS_DIR = path.join(ROOT, '.github', 'workflows');

const ACTIONLINT_BIN = path.join(TOOLS_DIR, `actionlint-${ACTIONLINT_VERSION}`, 'actionlint');
const say = (msg) => process.stderr.write(`[actionlint] ${msg}\n`);

export class ToolError extends Error {}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Path to the pinned actionlint binary, building it first when the cache lacks it. Idempotent;
 * concurrent callers each build into their own temporary folder and the rename is atomic.
 * @param {{ timeoutMs?: number }} [opts] bound on the build (the first one takes about a minute)
 * @returns {string}
 */
export function ensureActionlint({ timeoutMs = 600_000 } = {}) {
  if (fs.existsSync(ACTIONLINT_BIN)) return ACTIONLINT_BIN;
  if (!which('go')) {
    throw new ToolError('actionlint: go is not installed; Go 1.24 or newer builds actionlint (https://go.dev/doc/install)');
  }
  say(`building actionlint ${ACTIONLINT_VERSION} with \`go install\` into ${path.dirname(ACTIONLINT_BIN)} (once)...`);
  const t0 = Date.now();
  fs.mkdirSync(TOOLS_DIR, { recursive: true });
  const tmpBin = fs.mkdtempSync(path.join(TOOLS_DIR, '.actionlint-'));
  try {
    const r = spawnSync('go', ['install', `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`], {
      env: { ...process.env, GOBIN: tmpBin, CGO_ENABLED: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    if (r.error?.code === 'ETIMEDOUT' || r.signal) {
      throw new ToolError(
        `actionlint: \`go install\` did not finish within ${Math.round(timeoutMs / 1000)} s (is the Go module proxy reachable? GOPROXY=${process.env.GOPROXY ?? 'default'})`,
      );
    }
    if (r.status !== 0) {
      const out = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n');
      throw new ToolError(
        `actionlint: \`go install github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}\` failed (exit ${r.status})\n${out}`,
      );
    }
    fs.mkdirSync(path.dirname(ACTIONLINT_BIN), { recursive: true });
    fs.renameSync(path.join(tmpBin, 'actionlint'), ACTIONLINT_BIN);
  } finally {
    fs.rmSync(tmpBin, { recursive: true, force: true });
  }
  say(`actionlint ${ACTIONLINT_VERSION} built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ACTIONLINT_BIN;
}

/**
 * Path to a command from a Debian package, installing the package when we are root and apt-get
 * exists; undefined (and a note on stderr saying what is skipped) when that cannot be done here.
 * @param {string} command @param {string} pkg @param {string} consequence what is skipped without it
 * @param {{ timeoutMs?: number }} [opts]
 * @returns {string | undefined}
 */
export function ensureDebianTool(command, pkg, consequence, { timeoutMs = 300_000 } = {}) {
  const found = which(command);
  if (found) return found;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    say(`${command} is not installed, so ${consequence} (install it with your package manager: e.g. \`apt-get install ${pkg}\`)`);
    return undefined;
  }
  say(`installing ${pkg} from Debian packages (once)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', pkg], { env, stdio: 'ignore', timeout: timeoutMs }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: timeoutMs });
    if (!install()) {
      say(`\`apt-get install ${pkg}\` failed, so ${consequence}`);
      return undefined;
    }
  }
  return which(command);
}

/**
 * Path to shellcheck (installed when possible); without it actionlint skips `run:` scripts.
 * @returns {string | undefined}
 */
export function ensureShellcheck() {
  return ensureDebianTool('shellcheck', 'shellcheck', '`run:` scripts are not checked');
}

/** Every workflow file of the repository. */
export function workflowFiles(dir = WORKFLOWS_DIR) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * One finding of actionlint.
 * @typedef {{ message: string, filepath: string, line: number, column: number, kind: string, snippet?: string }} Finding
 */

/**
 * Runs actionlint on the given workflow files and returns its findings.
 * @param {string[]} files
 * @param {{ shellcheck?: string, cwd?: string, timeoutMs?: number }} [opts] `shellcheck`: its
 *   path, or '' to switch it off; by default the one found or installed by ensureShellcheck.
 * @returns {{ ok: boolean, findings: Finding[], report: string }}
 */
export function runActionlint(files, { shellcheck = ensureShellcheck() ?? '', cwd = ROOT, timeoutMs = 120_000 } = {}) {
  if (files.length === 0) throw new ToolError('actionlint: no workflow files given');
  const bin = ensureActionlint();
  const args = ['-no-color', '-format', '{{json .}}', `-shellcheck=${shellcheck}`, '-pyflakes=', ...files];
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  // actionlint exits 1 when it found problems and 2 or 3 when it could not run at all.
  if (r.status !== 0 && r.status !== 1) {
    throw new ToolError(`actionlint: failed to run (exit ${r.status ?? r.signal}): ${r.stderr.trim()}`);
  }
  const findings = /** @type {Finding[]} */ (JSON.parse(r.stdout.trim() || '[]'));
  const report = findings
    .map((f) => `${path.relative(cwd, path.resolve(cwd, f.filepath))}:${f.line}:${f.column}: ${f.message} [${f.kind}]`)
    .join('\n');
  return { ok: r.status === 0 && findings.length === 0, findings, report };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  try {
    const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : workflowFiles();
    const { ok, findings, report } = runActionlint(files);
    if (!ok) {
      process.stderr.write(`${report}\n\n${findings.length} problem(s) in ${files.length} workflow file(s)\n`);
      process.exit(1);
    }
    say(`${files.length} workflow file(s) clean (actionlint ${ACTIONLINT_VERSION}${which('shellcheck') ? ' with shellcheck' : ''})`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
