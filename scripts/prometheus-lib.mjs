// Prometheus and promtool for local runs and the test suite: built once from the Go module proxy
// into the cache (a pinned module version), and started like the other local servers: a detached
// process with a pid file under DATA_DIR/prometheus-<port>, so that `npm run infra:down` stops it
// too. Its configuration and rules come from packages/dashboards, the code the cluster's come from.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CACHE_DIR, InfraError, buildOnce, elapsed, instance, launch, processAlive, startManaged, stopInstance } from './infra-lib.mjs';

export const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus';
/** Prometheus 3.x releases are tagged v0.3XX.Y in the Go module: v0.316.0 is Prometheus 3.16.0. */
export const PROMETHEUS_MODULE_VERSION = 'v0.316.0';
export const PROMETHEUS_VERSION = PROMETHEUS_MODULE_VERSION.replace(
  /^v0\.(\d)(\d\d)\.(\d+)$/,
  (_, major, minor, patch) => `${major}.${Number(minor)}.${patch}`,
);

/**
 * Service discovery compiled in: Kubernetes only (the cluster's), which is what `promtool check
 * config` needs for the cluster's configuration. The other 25 mechanisms triple the build time.
 */
const BUILD_TAGS = 'remove_all_sd,enable_kubernetes_sd';
const VERSION_PKG = 'github.com/prometheus/common/version';
const LDFLAGS = [
  `-X ${VERSION_PKG}.Version=${PROMETHEUS_VERSION}`,
  `-X ${VERSION_PKG}.Revision=${PROMETHEUS_MODULE_VERSION}`,
  `-X ${VERSION_PKG}.Branch=module-proxy`,
].join(' ');

export const PROMETHEUS_HOME = path.join(CACHE_DIR, `prometheus-${PROMETHEUS_MODULE_VERSION}`);
export const PROMETHEUS_BIN = path.join(PROMETHEUS_HOME, 'prometheus');
export const PROMTOOL_BIN = path.join(PROMETHEUS_HOME, 'promtool');
export const PROMETHEUS_BUILD_LOG = path.join(CACHE_DIR, 'build-logs', `prometheus-${PROMETHEUS_MODULE_VERSION}.log`);
const STAMP = path.join(PROMETHEUS_HOME, '.complete');
const LOCK = path.join(CACHE_DIR, `prometheus-${PROMETHEUS_MODULE_VERSION}.lock`);

const say = (msg) => process.stderr.write(`[infra] ${msg}\n`);

function installed() {
  return fs.existsSync(STAMP) && fs.existsSync(PROMETHEUS_BIN) && fs.existsSync(PROMTOOL_BIN);
}

/**
 * Builds `prometheus` and `promtool` into the cache unless they are there: `go install` of the
 * pinned module from the module proxy (a few minutes on two cores, downloads included), with a
 * progress line every 15 s. Concurrent callers wait for one build.
 * @param {{ timeoutMs?: number }} [opts]
 * @returns {Promise<{ prometheus: string, promtool: string }>}
 */
export async function ensurePrometheusInstalled({ timeoutMs = 30 * 60_000 } = {}) {
  const result = { prometheus: PROMETHEUS_BIN, promtool: PROMTOOL_BIN };
  if (installed()) return result;
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) {
    throw new InfraError(
      'prometheus',
      `go is not installed: Go 1.26.7 or newer builds Prometheus ${PROMETHEUS_VERSION} (https://go.dev/doc/install)`,
    );
  }
  const deadline = Date.now() + timeoutMs;
  await buildOnce(LOCK, { component: 'prometheus', done: installed, build: () => build(deadline), timeoutMs, logFile: PROMETHEUS_BUILD_LOG });
  return result;
}

async function build(deadline) {
  const t0 = Date.now();
  say(
    `prometheus: building Prometheus ${PROMETHEUS_VERSION} and promtool (${PROMETHEUS_MODULE}@${PROMETHEUS_MODULE_VERSION}) into ${PROMETHEUS_HOME} (once, a few minutes)...`,
  );
  fs.mkdirSync(path.dirname(PROMETHEUS_BUILD_LOG), { recursive: true });
  const bin = fs.mkdtempSync(path.join(CACHE_DIR, `prometheus-build-`));
  const log = fs.createWriteStream(PROMETHEUS_BUILD_LOG);
  const args = [
    'install',
    '-v',
    '-trimpath',
    '-tags',
    BUILD_TAGS,
    '-ldflags',
    LDFLAGS,
    `${PROMETHEUS_MODULE}/cmd/prometheus@${PROMETHEUS_MODULE_VERSION}`,
    `${PROMETHEUS_MODULE}/cmd/promtool@${PROMETHEUS_MODULE_VERSION}`,
  ];
  log.write(`$ GOBIN=${bin} CGO_ENABLED=0 go ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}\n`);
  // Outside any module: `go install pkg@version` ignores the current one anyway.
  const child = spawn('go', args, {
    cwd: os.tmpdir(),
    env: { ...process.env, GOBIN: bin, CGO_ENABLED: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let downloaded = 0;
  let compiled = 0;
  const count = (chunk) => {
    log.write(chunk);
    for (const line of chunk.toString().split('\n')) {
      if (line.startsWith('go: downloading')) downloaded++;
      else if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line.trim()) && line.trim() !== '') compiled++;
    }
  };
  child.stdout.on('data', count);
  child.stderr.on('data', count);
  const progress = setInterval(() => {
    say(
      `prometheus: building... ${downloaded} modules downloaded, ${compiled} packages built, ${elapsed(t0)} elapsed (log: ${PROMETHEUS_BUILD_LOG})`,
    );
  }, 15_000);
  const timer = setTimeout(
    () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
    Math.max(0, deadline - Date.now()),
  );
  const code = await new Promise((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (c, signal) => resolve(signal ? signal : c));
  });
  clearInterval(progress);
  clearTimeout(timer);
  await new Promise((resolve) => log.end(resolve));
  try {
    if (code !== 0) {
      const why = code === 'SIGKILL' ? `did not finish within ${Math.round((Date.now() - t0) / 60_000)} min` : `failed (exit ${code})`;
      throw new InfraError(
        'prometheus',
        `\`go install\` of ${PROMETHEUS_MODULE}@${PROMETHEUS_MODULE_VERSION} ${why}`,
        PROMETHEUS_BUILD_LOG,
      );
    }
    for (const name of ['prometheus', 'promtool']) {
      const built = path.join(bin, name);
      const version = spawnSync(built, ['--version'], { encoding: 'utf8', timeout: 20_000 });
      if (version.status !== 0 || !version.stdout.includes(`version ${PROMETHEUS_VERSION}`)) {
        throw new InfraError(
          'prometheus',
          `the built ${name} does not run or reports another version:\n${version.stdout}${version.stderr}`,
          PROMETHEUS_BUILD_LOG,
        );
      }
    }
    fs.mkdirSync(PROMETHEUS_HOME, { recursive: true });
    for (const name of ['prometheus', 'promtool']) fs.renameSync(path.join(bin, name), path.join(PROMETHEUS_HOME, name));
    fs.writeFileSync(
      STAMP,
      `${PROMETHEUS_MODULE}@${PROMETHEUS_MODULE_VERSION} tags ${BUILD_TAGS}, built ${new Date().toISOString()} in ${elapsed(t0)}\n`,
    );
    say(`prometheus: built in ${elapsed(t0)} (${downloaded} modules downloaded, ${compiled} packages built)`);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
}

/**
 * Runs promtool (installed first if needed) and returns its exit status and everything it printed.
 * @param {string[]} args
 * @param {{ cwd?: string, timeoutMs?: number }} [opts]
 * @returns {Promise<{ status: number | null, output: string }>}
 */
export async function promtool(args, { cwd, timeoutMs = 120_000 } = {}) {
  const { promtool: bin } = await ensurePrometheusInstalled();
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** True when a Prometheus answers ready at `url`. */
export async function prometheusReady(url, timeoutMs = 1000) {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * The local Prometheus' configuration and rule files, generated by packages/dashboards as the
 * cluster's are: the same job, labels and rules, with the services at fixed addresses.
 * @param {{ port: number, services: { name: string, port: number }[], interval?: string }} opts
 * @returns {Promise<{ config: object, ruleFiles: Record<string, object> }>}
 */
export async function localPrometheusFiles({ port, services, interval }) {
  const { prometheusConfig, prometheusRuleFiles } = await import('@taskmesh/dashboards');
  return {
    config: prometheusConfig({
      discovery: { targets: services.map((s) => ({ address: `127.0.0.1:${s.port}`, app: s.name })) },
      ruleFiles: ['rules/*.yaml'],
      selfAddress: `127.0.0.1:${port}`,
      interval,
    }),
    ruleFiles: prometheusRuleFiles(),
  };
}

function writeConfig(dir, config, ruleFiles) {
  const rules = path.join(dir, 'rules');
  fs.rmSync(rules, { recursive: true, force: true });
  fs.mkdirSync(rules, { recursive: true });
  // JSON is YAML: Prometheus reads both files as they are.
  for (const [name, content] of Object.entries(ruleFiles))
    fs.writeFileSync(path.join(rules, name), `${JSON.stringify(content, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Starts Prometheus on 127.0.0.1:`port` with this configuration and these rule files (file name →
 * content; the configuration names them as `rules/*.yaml`), its TSDB under DATA_DIR/prometheus-<port>.
 * One of ours already running there reloads the new configuration instead, unless `owner` (a pid)
 * is given and another live process owns it.
 * @param {{ port?: number, config: object, ruleFiles: Record<string, object>, owner?: number, timeoutMs?: number }} opts
 */
export async function startPrometheus({ port = 9090, config, ruleFiles, owner, timeoutMs = 60_000 }) {
  const { prometheus } = await ensurePrometheusInstalled();
  const inst = instance('prometheus', port);
  const url = `http://127.0.0.1:${port}`;
  // One left by a process that is gone is taken over; one that a live process uses is not.
  const ownerFile = path.join(inst.dir, 'owner');
  const running = pidIn(inst.pidFile);
  const holder = pidIn(ownerFile);
  if (owner && running && holder && holder !== owner) {
    throw new InfraError(
      'prometheus',
      `the Prometheus at ${url} belongs to another run (pid ${holder}); choose another port (PROMETHEUS_PORT)`,
    );
  }
  fs.mkdirSync(inst.dir, { recursive: true });
  writeConfig(inst.dir, config, ruleFiles);
  const configFile = path.join(inst.dir, 'prometheus.yml');
  const check = spawnSync(PROMTOOL_BIN, ['check', 'config', configFile], { encoding: 'utf8', timeout: 60_000 });
  if (check.status !== 0)
    throw new InfraError('prometheus', `promtool refuses the generated configuration:\n${check.stdout}${check.stderr}`);
  const started = await startManaged(inst, {
    timeoutMs,
    healthy: () => prometheusReady(url),
    launchIt: () =>
      launch(inst, prometheus, [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(inst.dir, 'data')}`,
        '--storage.tsdb.retention.time=1d',
        `--web.listen-address=127.0.0.1:${port}`,
        // Lets a second `npm start` reload the configuration of a Prometheus left running.
        '--web.enable-lifecycle',
      ]),
  });
  if (started.external) {
    throw new InfraError(
      'prometheus',
      `something not started here already answers at ${url}: stop it, or choose another port (PROMETHEUS_PORT)`,
    );
  }
  if (!started.started) {
    const res = await fetch(`${url}/-/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) }).catch((err) => ({
      ok: false,
      statusText: err.message,
    }));
    if (!res.ok)
      throw new InfraError(
        'prometheus',
        `the running Prometheus at ${url} did not reload its configuration: ${res.statusText}`,
        inst.logFile,
      );
  }
  if (owner) fs.writeFileSync(ownerFile, `${owner}\n`);
  return { ...started, url };
}

/** The live process whose pid a file holds, if any. */
function pidIn(file) {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops the Prometheus on `port` that this project started, and removes its data. */
export async function stopPrometheus(port = 9090) {
  return stopInstance(instance('prometheus', port));
}
