// Local infrastructure: Redis (Debian package), Apache Kafka 3.9 in KRaft mode (jars from
// Maven Central) and a single-node MongoDB-wire server on WiredTiger (secantusd-rs, built from the
// Rust crate registry; it keeps MongoDB's single-document atomicity, unique indexes, TTL,
// transactions and change streams).
// Each is installed once into a cache outside the clone, started idempotently, health-checked
// with a real protocol request and bounded in time. Tests import this module to start private
// instances on free ports when they need to stop a server without disturbing the shared ones.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE_DIR = process.env.TASKMESH_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'taskmesh');
export const DATA_DIR = process.env.TASKMESH_DATA_DIR ?? path.join(os.tmpdir(), 'taskmesh-infra');

export const KAFKA_VERSION = '3.9.1';
/** The crate `secantus-mdb` (binary `secantusd-rs`), GPL-2.0: run as a separate process, never linked. */
export const SECANTUS_VERSION = '0.5.3-beta.196';
const KAFKA_LIBS = path.join(CACHE_DIR, `kafka-${KAFKA_VERSION}`, 'libs');
const SECANTUS_ROOT = path.join(CACHE_DIR, `secantus-mdb-${SECANTUS_VERSION}`);
const SECANTUS_BIN = path.join(SECANTUS_ROOT, 'bin', 'secantusd-rs');

export const DEFAULTS = {
  redisUrl: 'redis://127.0.0.1:6379',
  kafkaBrokers: '127.0.0.1:9092',
  mongodbUri: 'mongodb://127.0.0.1:27017',
};

export class InfraError extends Error {
  /** @param {string} component @param {string} message @param {string} [logFile] */
  constructor(component, message, logFile) {
    super(`${component}: ${message}${logFile ? `\n  log: ${logFile}\n${tail(logFile)}` : ''}`);
    this.component = component;
  }
}

const say = (msg) => process.stderr.write(`[infra] ${msg}\n`);

function tail(file, lines = 15) {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
    return text.map((l) => `    | ${l}`).join('\n');
  } catch {
    return '';
  }
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function run(component, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new InfraError(component, `\`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})\n${out}`);
  }
  return r.stdout;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check, { timeoutMs, intervalMs = 250, isAlive }) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (isAlive && !isAlive()) return { ok: false, reason: 'the process exited' };
    try {
      if (await check()) return { ok: true };
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  return { ok: false, reason: `no healthy answer within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (last error: ${lastError.message})` : ''}` };
}

/** A free TCP port on 127.0.0.1, for private test instances. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

export function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pid in an instance's pid file, if that process is alive and still the one `launch` started
 * there. On Linux its working directory must be the instance's folder (where `launch` starts it),
 * so a pid the system gave to another process since (after a reboot, say) is never taken for ours
 * and never signalled; where /proc is missing, alive is taken as enough.
 */
function readPid(file) {
  let pid;
  try {
    pid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return undefined;
  if (!fs.existsSync('/proc/self/cwd')) return pid;
  try {
    return fs.realpathSync(`/proc/${pid}/cwd`) === fs.realpathSync(path.dirname(file)) ? pid : undefined;
  } catch {
    return undefined; // gone meanwhile, or another user's process
  }
}

// ---------------------------------------------------------------------------------------------
// Health checks: a real protocol request each.

/** Redis PING over a raw socket: no client library needed before `npm ci` has run. */
export function redisPing(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (buf) => done(buf.toString().startsWith('+PONG')));
  });
}

/** A Kafka metadata request through kafkajs' admin client. */
export async function kafkaMetadataOk(brokers, timeoutMs = 2000) {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    clientId: 'infra-health',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** A MongoDB `ping` command through the official driver. */
export async function mongoPing(uri, timeoutMs = 2000) {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    return res.ok === 1;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Installation into the cache.

/**
 * A program from Debian's packages: found on PATH (or in /usr/sbin, which a non-login PATH may
 * lack), else installed with apt-get (once; `apt-get update` and again if the first attempt fails)
 * when running as root, else a clear message. Only the package is wanted, never its recommends.
 * @param {string} component @param {string} pkg @param {string} [binary] the program, if not named as the package
 */
export function ensureDebianPackage(component, pkg, binary = pkg) {
  const find = () => which(binary) ?? (fs.existsSync(`/usr/sbin/${binary}`) ? `/usr/sbin/${binary}` : undefined);
  const found = find();
  if (found) return found;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new InfraError(component, `${binary} is not installed; install it with \`sudo apt-get install -y ${pkg}\` (Debian/Ubuntu) or your package manager`);
  }
  const t0 = Date.now();
  say(`${component}: installing ${pkg} from Debian packages (once)...`);
  const opts = { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: /** @type {const} */ ('ignore'), timeout: 300_000 };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], opts).status === 0;
  if (!install()) {
    say(`${component}: apt-get update, then installing again...`);
    if (spawnSync('apt-get', ['update', '-qq'], opts).status !== 0) throw new InfraError(component, '`apt-get update` failed');
    if (!install()) throw new InfraError(component, `\`apt-get install -y ${pkg}\` failed`);
  }
  const bin = find();
  if (!bin) throw new InfraError(component, `${binary} still not found after apt-get install ${pkg}`);
  say(`${component}: ${pkg} installed in ${elapsed(t0)}`);
  return bin;
}

export function ensureRedisInstalled() {
  return ensureDebianPackage('redis', 'redis-server');
}

export function ensureKafkaInstalled() {
  const stamp = path.join(KAFKA_LIBS, '.complete');
  if (fs.existsSync(stamp)) return KAFKA_LIBS;
  if (!which('java')) throw new InfraError('kafka', 'java is not installed: a JDK 17 or newer runs the broker (e.g. `apt-get install -y openjdk-17-jre-headless`)');
  if (!which('mvn')) throw new InfraError('kafka', 'mvn is not installed: Maven fetches the Kafka jars (e.g. `apt-get install -y maven`)');
  say(`kafka: fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${KAFKA_LIBS} (once)...`);
  fs.rmSync(KAFKA_LIBS, { recursive: true, force: true });
  fs.mkdirSync(KAFKA_LIBS, { recursive: true });
  run('kafka', 'mvn', [
    '-q', '-B', '-f', path.join(ROOT, 'tools', 'kafka', 'pom.xml'),
    'dependency:copy-dependencies', `-DoutputDirectory=${KAFKA_LIBS}`, '-DincludeScope=runtime',
  ]);
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
  return KAFKA_LIBS;
}

function cargoBin() {
  const home = process.env.CARGO_HOME ?? path.join(os.homedir(), '.cargo');
  return which('cargo') ?? (fs.existsSync(path.join(home, 'bin', 'cargo')) ? path.join(home, 'bin', 'cargo') : undefined);
}

/** Time since `t0` as people read it: `42s`, `3m07s`. */
export const elapsed = (t0) => {
  const s = Math.round((Date.now() - t0) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

/**
 * Runs `build` as the only builder of one cache entry, so that parallel test projects or a second
 * `npm start` never build it twice: the lock is a folder holding the builder's pid. A caller that
 * finds a live builder says so once and waits (bounded) until `done()`; a lock left by a builder
 * that was killed is taken over.
 * @param {string} lockPath
 * @param {{ component: string, done: () => boolean, build: () => Promise<void>, timeoutMs: number, logFile?: string }} opts
 */
export async function buildOnce(lockPath, { component, done, build, timeoutMs, logFile }) {
  if (done()) return;
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(lockPath);
      fs.writeFileSync(path.join(lockPath, 'pid'), `${process.pid}\n`);
      break;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
    }
    let holder = 0;
    try {
      holder = Number(fs.readFileSync(path.join(lockPath, 'pid'), 'utf8').trim());
    } catch {
      /* taken an instant ago, pid not written yet; or left by a killed builder */
    }
    const age = Date.now() - (fs.statSync(lockPath, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (holder > 0 ? !processAlive(holder) : age > 10_000) {
      fs.rmSync(lockPath, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new InfraError(component, `another build (pid ${holder}) did not finish within ${Math.round(timeoutMs / 60_000)} min`, logFile);
    }
    if (holder > 0 && !told) {
      say(`${component}: another process (pid ${holder}) is building it; waiting${logFile ? ` (log: ${logFile})` : ''}`);
      told = true;
    }
    await sleep(holder > 0 ? 1000 : 200);
    if (done()) return;
  }
  try {
    if (!done()) await build();
  } finally {
    fs.rmSync(lockPath, { recursive: true, force: true });
  }
}

/**
 * Builds `secantusd-rs` once into the cache with `cargo install` (exact version, the crate's own
 * lock file). It compiles WiredTiger from source: minutes on a small machine, so progress and the
 * elapsed time are printed every 20 s. A second process that finds a build under way waits for it.
 */
export async function ensureMongoInstalled({ timeoutMs = 45 * 60_000 } = {}) {
  if (fs.existsSync(SECANTUS_BIN)) return SECANTUS_BIN;
  const cargo = cargoBin();
  if (!cargo) throw new InfraError('mongodb', 'cargo is not installed: a Rust toolchain builds the local MongoDB-wire server (https://rustup.rs, or `apt-get install -y cargo`)');
  for (const tool of ['cc', 'cmake']) {
    if (!which(tool)) throw new InfraError('mongodb', `${tool} is not installed: it builds WiredTiger, the storage engine of the local MongoDB-wire server (\`apt-get install -y build-essential cmake\`)`);
  }
  const logFile = `${SECANTUS_ROOT}.build.log`;
  await buildOnce(`${SECANTUS_ROOT}.lock`, {
    component: 'mongodb',
    logFile,
    timeoutMs,
    done: () => fs.existsSync(SECANTUS_BIN),
    build: () => buildSecantus(cargo, logFile, timeoutMs),
  });
  return SECANTUS_BIN;
}

async function buildSecantus(cargo, logFile, timeoutMs) {
  const t0 = Date.now();
  say(`mongodb: building secantusd-rs ${SECANTUS_VERSION} (crate secantus-mdb, WiredTiger storage) into ${SECANTUS_ROOT} (once; minutes on 2 cores; log: ${logFile})...`);
  const staging = `${SECANTUS_ROOT}.${process.pid}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  const log = fs.openSync(logFile, 'w');
  // --ignore-rust-version: the crate declares a newer Rust than it needs; it builds and runs on 1.95.
  const child = spawn(cargo, ['install', 'secantus-mdb', '--version', SECANTUS_VERSION, '--locked', '--ignore-rust-version', '--root', staging], {
    stdio: ['ignore', log, log],
    env: { ...process.env, CARGO_TERM_COLOR: 'never', CARGO_TERM_PROGRESS_WHEN: 'never' },
  });
  fs.closeSync(log);
  const ticker = setInterval(() => {
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    const compiled = text.match(/^\s*Compiling /gm)?.length ?? 0;
    const last = text.trimEnd().split('\n').at(-1)?.trim() ?? '';
    say(`mongodb: building secantusd-rs, ${elapsed(t0)} elapsed, ${compiled} crates compiled (${last.slice(0, 80)})`);
  }, 20_000);
  const killer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  clearInterval(ticker);
  clearTimeout(killer);
  if (code !== 0 || !fs.existsSync(path.join(staging, 'bin', 'secantusd-rs'))) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new InfraError('mongodb', `\`cargo install secantus-mdb --version ${SECANTUS_VERSION}\` failed (exit ${code}) after ${elapsed(t0)}`, logFile);
  }
  fs.rmSync(SECANTUS_ROOT, { recursive: true, force: true });
  fs.renameSync(staging, SECANTUS_ROOT);
  say(`mongodb: secantusd-rs built in ${elapsed(t0)}`);
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping.

/**
 * One managed server: a detached process with a pid file and a log file under its data folder.
 * @typedef {{ name: string, component: string, dir: string, pidFile: string, logFile: string, address: string }} Instance
 */

export function instance(component, port) {
  const name = `${component}-${port}`;
  const dir = path.join(DATA_DIR, name);
  return { name, component, dir, pidFile: path.join(dir, 'pid'), logFile: path.join(dir, `${component}.log`), address: `127.0.0.1:${port}` };
}

export function launch(inst, cmd, args, env = process.env) {
  fs.mkdirSync(inst.dir, { recursive: true });
  const log = fs.openSync(inst.logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log], env, cwd: inst.dir });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(inst.pidFile, `${child.pid}\n`);
  return child.pid;
}

export async function startManaged(inst, { healthy, launchIt, timeoutMs }) {
  const existing = readPid(inst.pidFile);
  // Ours and alive: give a slow answer (a loaded machine, a broker electing its controller) a
  // few seconds before deciding it is broken and restarting it.
  if (existing && (await waitFor(healthy, { timeoutMs: 10_000, intervalMs: 500, isAlive: () => processAlive(existing) })).ok) {
    return { ...inst, pid: existing, started: false };
  }
  if (!existing && (await healthy())) {
    // Something else answers on that address (a container, a system service): use it as it is.
    return { ...inst, pid: undefined, started: false, external: true };
  }
  if (existing) await stopPid(existing, 5000);
  const pid = launchIt();
  const result = await waitFor(healthy, { timeoutMs, isAlive: () => processAlive(pid) });
  if (!result.ok) {
    await stopPid(pid, 3000);
    fs.rmSync(inst.pidFile, { force: true });
    throw new InfraError(inst.component, `did not become healthy at ${inst.address}: ${result.reason}`, inst.logFile);
  }
  return { ...inst, pid, started: true };
}

async function stopPid(pid, graceMs) {
  const signal = (sig) => {
    try {
      process.kill(-pid, sig); // the whole process group: the server and anything it forked
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline) await sleep(100);
  if (processAlive(pid)) {
    signal('SIGKILL');
    while (processAlive(pid)) await sleep(50);
  }
}

/** Stops a managed instance and, unless `keepData`, removes its data folder. */
export async function stopInstance(inst, { keepData = false } = {}) {
  const pid = readPid(inst.pidFile);
  if (pid) await stopPid(pid, inst.component === 'kafka' ? 20000 : 8000);
  fs.rmSync(inst.pidFile, { force: true });
  if (!keepData) fs.rmSync(inst.dir, { recursive: true, force: true });
  return Boolean(pid);
}

/** @param {{ port?: number, timeoutMs?: number }} [opts] */
export async function startRedis({ port = 6379, timeoutMs = 10000 } = {}) {
  const bin = ensureRedisInstalled();
  const inst = instance('redis', port);
  const started = await startManaged(inst, {
    timeoutMs,
    healthy: () => redisPing(port),
    launchIt: () =>
      launch(inst, bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', inst.dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes']),
  });
  return { ...started, url: `redis://127.0.0.1:${port}` };
}

/** @param {{ port?: number, controllerPort?: number, timeoutMs?: number }} [opts] */
export async function startKafka({ port = 9092, controllerPort = port + 1, timeoutMs = 90000 } = {}) {
  const libs = ensureKafkaInstalled();
  const java = which('java');
  const inst = instance('kafka', port);
  const brokers = `127.0.0.1:${port}`;
  const started = await startManaged(inst, {
    timeoutMs,
    healthy: () => kafkaMetadataOk(brokers),
    launchIt: () => {
      const logDir = path.join(inst.dir, 'data');
      const props = path.join(inst.dir, 'server.properties');
      fs.mkdirSync(inst.dir, { recursive: true });
      fs.writeFileSync(props, kafkaProperties({ port, controllerPort, logDir }));
      fs.writeFileSync(path.join(inst.dir, 'log4j.properties'), KAFKA_LOG4J);
      const cp = `${libs}/*`;
      const jvm = [`-Dlog4j.configuration=file:${path.join(inst.dir, 'log4j.properties')}`, '-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true'];
      if (!fs.existsSync(path.join(logDir, 'meta.properties'))) {
        const clusterId = kafkaClusterId();
        run('kafka', java, [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, '--ignore-formatted']);
      }
      return launch(inst, java, [...jvm, '-cp', cp, 'kafka.Kafka', props]);
    },
  });
  return { ...started, brokers };
}

/**
 * A single-node MongoDB-wire server (secantusd-rs on WiredTiger) with its data under DATA_DIR. It
 * answers `hello` as a one-member replica set, so transactions and change streams work.
 * @param {{ port?: number, timeoutMs?: number }} [opts]
 */
export async function startMongo({ port = 27017, timeoutMs = 30000 } = {}) {
  const bin = await ensureMongoInstalled();
  await stopLegacyStore(port);
  const inst = instance('mongodb', port);
  const uri = `mongodb://127.0.0.1:${port}`;
  const started = await startManaged(inst, {
    timeoutMs,
    healthy: () => mongoPing(uri, 1000),
    launchIt: () =>
      launch(inst, bin, ['--host', '127.0.0.1', '--port', String(port), '--storage-path', path.join(inst.dir, 'data'), '--cache-size', '256M', '--log-level', 'WARNING']),
  });
  return { ...started, uri };
}

/** A FerretDB that an earlier version of these scripts left running on the port is stopped first. */
async function stopLegacyStore(port) {
  const legacy = instance('ferretdb', port);
  if (fs.existsSync(legacy.dir)) {
    say(`mongodb: stopping the FerretDB that an earlier version started on ${legacy.address}`);
    await stopInstance(legacy);
  }
}

/**
 * A random cluster id as Kafka makes them: 16 bytes in base64url, never starting with "-", which
 * the storage tool's argument parser would read as an option (1 id in 64 otherwise).
 */
export function kafkaClusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function kafkaProperties({ port, controllerPort, logDir }) {
  return `# generated by scripts/infra-lib.mjs: a single-node KRaft broker for local runs and tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${logDir}
# services create their own topics with their admin code
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
log.retention.hours=24
`;
}

const KAFKA_LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka$=INFO
`;

// ---------------------------------------------------------------------------------------------
// The shared local stack, as configured by REDIS_URL, KAFKA_BROKERS and MONGODB_URI.

function localPort(component, value, fallbackPort) {
  const hostPort = component === 'kafka' ? value.split(',')[0] : new URL(value).host;
  const [host, port] = hostPort.split(':');
  const isLocal = host === '127.0.0.1' || host === 'localhost';
  return { isLocal, port: Number(port || fallbackPort), hostPort };
}

export function stackConfig(env = process.env) {
  return {
    redisUrl: env.REDIS_URL || DEFAULTS.redisUrl,
    kafkaBrokers: env.KAFKA_BROKERS || DEFAULTS.kafkaBrokers,
    mongodbUri: env.MONGODB_URI || DEFAULTS.mongodbUri,
  };
}

/**
 * Brings the stack up: each server is started here unless it already answers at its configured
 * address (a container in CI, a developer's own server), in which case it is used as it is.
 */
export async function up(env = process.env) {
  const cfg = stackConfig(env);
  const redis = localPort('redis', cfg.redisUrl, 6379);
  const kafka = localPort('kafka', cfg.kafkaBrokers, 9092);
  const mongo = localPort('mongodb', cfg.mongodbUri, 27017);

  const jobs = [
    ['redis', redis, () => (redisPing(redis.port, redis.hostPort.split(':')[0])), () => startRedis({ port: redis.port })],
    ['kafka', kafka, () => kafkaMetadataOk(cfg.kafkaBrokers), () => startKafka({ port: kafka.port })],
    ['mongodb', mongo, () => mongoPing(cfg.mongodbUri), () => startMongo({ port: mongo.port })],
  ];
  // Install everything first (sequentially: apt, Maven and cargo each print their own progress),
  // then start the three servers side by side.
  for (const [name, where] of jobs) {
    if (!where.isLocal) continue;
    if (name === 'redis') ensureRedisInstalled();
    if (name === 'kafka') ensureKafkaInstalled();
    if (name === 'mongodb') await ensureMongoInstalled();
  }
  const results = await Promise.allSettled(
    jobs.map(async ([name, where, healthy, start]) => {
      const t0 = Date.now();
      if (!where.isLocal) {
        if (!(await healthy())) throw new InfraError(name, `not reachable at ${where.hostPort} (configured, not local, so not started here)`);
        return `${name.padEnd(8)} reachable at ${where.hostPort} (external)`;
      }
      const r = await start();
      const how = r.external ? 'already answering (not managed here)' : r.started ? `started in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'already running';
      return `${name.padEnd(8)} ${r.address}  ${how}${r.pid ? `  pid ${r.pid}` : ''}`;
    }),
  );
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  for (const r of results) if (r.status === 'fulfilled') say(r.value);
  if (failures.length > 0) throw new InfraError('infra', `${failures.length} of 3 failed:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
  return cfg;
}

/** Stops every server this project started under DATA_DIR, and removes their data. */
export async function down() {
  if (!fs.existsSync(DATA_DIR)) return [];
  const stopped = [];
  // Kafka first: it flushes on shutdown and is the slowest.
  const names = fs.readdirSync(DATA_DIR).sort((a, b) => Number(b.startsWith('kafka')) - Number(a.startsWith('kafka')));
  for (const name of names) {
    const [component, port] = name.split('-');
    if (!component || !port) continue;
    const inst = instance(component, Number(port));
    if (await stopInstance(inst)) stopped.push(name);
  }
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
  return stopped;
}

export async function status(env = process.env) {
  const cfg = stackConfig(env);
  const rows = [];
  const managed = fs.existsSync(DATA_DIR) ? fs.readdirSync(DATA_DIR) : [];
  const pidOf = (component, port) => (managed.includes(`${component}-${port}`) ? readPid(instance(component, port).pidFile) : undefined);
  const redis = localPort('redis', cfg.redisUrl, 6379);
  const kafka = localPort('kafka', cfg.kafkaBrokers, 9092);
  const mongo = localPort('mongodb', cfg.mongodbUri, 27017);
  const checks = [
    ['redis', redis.hostPort, redisPing(redis.port, redis.hostPort.split(':')[0]), pidOf('redis', redis.port)],
    ['kafka', kafka.hostPort, kafkaMetadataOk(cfg.kafkaBrokers), pidOf('kafka', kafka.port)],
    ['mongodb', mongo.hostPort, mongoPing(cfg.mongodbUri, 1000), pidOf('mongodb', mongo.port)],
  ];
  for (const [name, where, healthy, pid] of checks) {
    rows.push({ name, where, healthy: await healthy, pid });
  }
  return rows;
}
