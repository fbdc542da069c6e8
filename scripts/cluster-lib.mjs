// A real Kubernetes control plane on this machine, without Docker: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from their Go modules (tools/kube), and KWOK
// simulating the nodes and the pods' lifecycle. What kind brings beyond the control plane is stood
// in for: the `standard` StorageClass (a pool of PersistentVolumes, so that claims bind), CoreDNS
// (its Service and Deployment, for the NetworkPolicies' DNS rule), and metrics-server's place in
// the aggregated API (the manifests' own APIService, served by nothing: see docs/kubernetes.md).
//
// Built once into $TASKMESH_CACHE_DIR, started idempotently (each component is health-checked and
// left alone when it answers), data under $TASKMESH_DATA_DIR/kube. Requires Go and openssl.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { CACHE_DIR, DATA_DIR, InfraError, ROOT, buildOnce, elapsed, instance, launch, startManaged, stopInstance } from './infra-lib.mjs';
import { ensureKubectl } from './kube-tools.mjs';

export const KUBE_VERSION = 'v1.34.4';
export const KWOK_VERSION = 'v0.7.0';
const TOOLS = path.join(ROOT, 'tools', 'kube');
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];
const LDFLAGS = [
  '-s',
  '-w',
  `-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}`,
  `-X k8s.io/component-base/version.gitMajor=1`,
  `-X k8s.io/component-base/version.gitMinor=${KUBE_VERSION.split('.')[1]}`,
].join(' ');

/** Ports on 127.0.0.1, away from the defaults so that a kind cluster or a kubelet can coexist. */
export const PORTS = Object.freeze({
  apiserver: Number(process.env.TASKMESH_KUBE_API_PORT ?? 16443),
  etcd: Number(process.env.TASKMESH_KUBE_ETCD_PORT ?? 12379),
  controllerManager: Number(process.env.TASKMESH_KUBE_KCM_PORT ?? 20257),
  scheduler: Number(process.env.TASKMESH_KUBE_SCHEDULER_PORT ?? 20259),
  kwok: Number(process.env.TASKMESH_KUBE_KWOK_PORT ?? 20247),
});
export const CLUSTER_DIR = path.join(DATA_DIR, 'kube');
export const KUBECONFIG = path.join(CLUSTER_DIR, 'kubeconfig');
const PKI = path.join(CLUSTER_DIR, 'pki');

/**
 * One simulated node as kind makes it: 4 CPU and 8 GiB (a laptop's Docker VM), less what kind's
 * control plane pods on that node request (etcd 100m/100Mi, kube-apiserver 250m, controller-manager
 * 200m, scheduler 100m, kindnet 100m/50Mi); CoreDNS runs as pods here, so it counts by itself.
 */
export const NODE_SHAPE = Object.freeze({ cpu: '4', memory: '8Gi', allocatableCpu: '3250m', allocatableMemory: '8042Mi', pods: '110' });
/** kind's single node; `ha` adds two workers (kind's names). */
export const NODE_NAMES = Object.freeze(['taskmesh-control-plane', 'taskmesh-worker', 'taskmesh-worker2']);

const say = (msg) => process.stderr.write(`[cluster] ${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(component, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8', timeout: 120_000, ...opts });
  if (r.error?.code === 'ENOENT') throw new InfraError(component, `${cmd} is not installed (needed for: ${cmd} ${args.join(' ')})`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new InfraError(component, `\`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})\n${out}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// Build, once, into the cache.

/** The build inputs' hash: a changed go.mod, go.sum or main rebuilds into a new folder. */
function buildKey() {
  const h = crypto.createHash('sha256');
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(go|mod|sum)$/.test(e.name)) h.update(path.relative(TOOLS, p)).update(fs.readFileSync(p));
    }
  };
  walk(TOOLS);
  h.update(LDFLAGS);
  return h.digest('hex').slice(0, 12);
}

export function binDir() {
  return path.join(CACHE_DIR, `kube-${KUBE_VERSION}-kwok-${KWOK_VERSION}-${buildKey()}`);
}

export function bin(name) {
  return path.join(binDir(), name);
}

function goBuild(cwd, args, log, timeoutMs) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(log, 'a');
    // At a lower priority: under `npm test` it compiles while the other projects test.
    const niced = spawnSync('nice', ['-n', '0', 'true']).status === 0;
    const [cmd, ...argv] = [...(niced ? ['nice', '-n', '10'] : []), 'go', 'build', ...args];
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', out, out], env: { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false' } });
    fs.closeSync(out);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new InfraError('kube-build', 'go is not installed: Go 1.24 or newer builds the control plane') : err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new InfraError('kube-build', `go build ${args.at(-1)} in ${cwd} failed (${signal ?? `exit ${code}`})`, log));
    });
  });
}

/**
 * Builds the five binaries into the cache unless they are there. A cold build compiles most of
 * Kubernetes (tens of minutes on two cores, see docs/kubernetes.md); progress is printed every
 * 30 s. A second process that finds a build under way waits for it.
 */
export async function ensureKubeBuilt({ timeoutMs = 75 * 60_000 } = {}) {
  const dir = binDir();
  const built = () => BINARIES.every((b) => fs.existsSync(path.join(dir, b)));
  if (built()) return dir;
  if (spawnSync('go', ['version']).error) {
    throw new InfraError('kube-build', 'go is not installed: Go 1.24 or newer builds the control plane (e.g. apt-get install golang-go, if new enough)');
  }
  const logDir = path.join(CACHE_DIR, 'build-logs');
  fs.mkdirSync(logDir, { recursive: true });
  const log = path.join(logDir, `${path.basename(dir)}.log`);
  await buildOnce(`${dir}.lock`, { component: 'kube-build', done: built, build: () => buildKube(dir, log, timeoutMs), timeoutMs, logFile: log });
  return dir;
}

async function buildKube(dir, log, timeoutMs) {
  const t0 = Date.now();
  const ticker = setInterval(() => say(`building the control plane (${KUBE_VERSION}, KWOK ${KWOK_VERSION}): ${elapsed(t0)} so far; log ${log}`), 30_000);
  try {
    say(`building etcd, kube-apiserver, kube-controller-manager, kube-scheduler (${KUBE_VERSION}) and KWOK ${KWOK_VERSION} into ${dir}; cold, this takes tens of minutes; log ${log}`);
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const deadline = t0 + timeoutMs;
    await goBuild(TOOLS, ['-ldflags', LDFLAGS, '-o', `${tmp}/`, './cmd/...'], log, deadline - Date.now());
    await goBuild(path.join(TOOLS, 'kwok'), ['-ldflags', '-s -w', '-o', `${tmp}/`, './cmd/kwok'], log, deadline - Date.now());
    for (const b of BINARIES) if (!fs.existsSync(path.join(tmp, b))) throw new InfraError('kube-build', `the build produced no ${b}`, log);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    say(`built the control plane in ${elapsed(t0)}`);
    fs.appendFileSync(log, `built in ${Math.round((Date.now() - t0) / 1000)} s\n`);
  } finally {
    clearInterval(ticker);
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates: one CA for the API server's serving and client certificates, one for the
// aggregation layer's front proxy, and the service-account signing key pair.

function ensurePki() {
  if (fs.existsSync(path.join(PKI, 'done'))) return;
  const tmp = `${PKI}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const ssl = (...args) => run('pki', 'openssl', args, { cwd: tmp });
  const ca = (name, cn) => ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '3650', '-subj', `/CN=${cn}`);
  const leaf = (name, caName, subject, ext) => {
    fs.writeFileSync(path.join(tmp, `${name}.ext`), ext);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '3650', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  };
  ca('ca', 'taskmesh-kubernetes-ca');
  ca('front-proxy-ca', 'taskmesh-front-proxy-ca');
  leaf(
    'apiserver',
    'ca',
    '/CN=kube-apiserver',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n',
  );
  const client = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
  leaf('admin', 'ca', '/O=system:masters/CN=kubernetes-admin', client);
  leaf('front-proxy-client', 'front-proxy-ca', '/CN=front-proxy-client', client);
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
  fs.writeFileSync(path.join(tmp, 'done'), '');
  fs.rmSync(PKI, { recursive: true, force: true });
  fs.renameSync(tmp, PKI);
}

function writeKubeconfig() {
  const text = `apiVersion: v1
kind: Config
clusters:
  - name: taskmesh-local
    cluster:
      server: https://127.0.0.1:${PORTS.apiserver}
      certificate-authority: ${path.join(PKI, 'ca.crt')}
users:
  - name: kubernetes-admin
    user:
      client-certificate: ${path.join(PKI, 'admin.crt')}
      client-key: ${path.join(PKI, 'admin.key')}
contexts:
  - name: taskmesh-local
    context:
      cluster: taskmesh-local
      user: kubernetes-admin
current-context: taskmesh-local
`;
  fs.writeFileSync(KUBECONFIG, text, { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// Health checks: a real request each.

function httpGet(url, { tls = false, timeoutMs = 3000 } = {}) {
  return new Promise((resolve) => {
    const opts = tls
      ? { ca: fs.readFileSync(path.join(PKI, 'ca.crt')), cert: fs.readFileSync(path.join(PKI, 'admin.crt')), key: fs.readFileSync(path.join(PKI, 'admin.key')) }
      : {};
    const req = (url.startsWith('https:') ? https : http).get(url, { ...opts, timeout: timeoutMs, rejectUnauthorized: tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

const etcdHealthy = async () => (await httpGet(`http://127.0.0.1:${PORTS.etcd}/health`)).body.includes('"health":"true"');
export const apiserverReady = async () => (await httpGet(`https://127.0.0.1:${PORTS.apiserver}/readyz`, { tls: true })).body === 'ok';
// Self-signed serving certificates; /healthz is open to anonymous requests.
const componentHealthy = (port) => async () => (await httpGet(`https://127.0.0.1:${port}/healthz`)).body === 'ok';
const kwokHealthy = async () => (await httpGet(`http://127.0.0.1:${PORTS.kwok}/healthz`)).status === 200;

// ---------------------------------------------------------------------------------------------
// The components.

const components = () => ({
  etcd: instance('kube-etcd', PORTS.etcd),
  apiserver: instance('kube-apiserver', PORTS.apiserver),
  controllerManager: instance('kube-controller-manager', PORTS.controllerManager),
  scheduler: instance('kube-scheduler', PORTS.scheduler),
  kwok: instance('kwok', PORTS.kwok),
});

function startEtcd(inst) {
  const peer = PORTS.etcd + 1;
  return startManaged(inst, {
    healthy: etcdHealthy,
    timeoutMs: 30_000,
    launchIt: () =>
      launch(inst, bin('etcd'), [
        '--name=taskmesh',
        `--data-dir=${path.join(inst.dir, 'data')}`,
        `--listen-client-urls=http://127.0.0.1:${PORTS.etcd}`,
        `--advertise-client-urls=http://127.0.0.1:${PORTS.etcd}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=taskmesh=http://127.0.0.1:${peer}`,
        // A throwaway development store on a shared, busy disk: no fsync per write.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]),
  });
}

function startApiserver(inst) {
  const p = (f) => path.join(PKI, f);
  return startManaged(inst, {
    healthy: apiserverReady,
    timeoutMs: 120_000,
    launchIt: () =>
      launch(inst, bin('kube-apiserver'), [
        `--etcd-servers=http://127.0.0.1:${PORTS.etcd}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${PORTS.apiserver}`,
        `--tls-cert-file=${p('apiserver.crt')}`,
        `--tls-private-key-file=${p('apiserver.key')}`,
        `--client-ca-file=${p('ca.crt')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${p('sa.pub')}`,
        `--service-account-signing-key-file=${p('sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        // The aggregation layer (metrics.k8s.io's APIService) authenticates through a front proxy.
        `--requestheader-client-ca-file=${p('front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${p('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${p('front-proxy-client.key')}`,
        // The `kubernetes` Service would point at 127.0.0.1, which Endpoints may not hold.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        '--v=1',
      ]),
  });
}

function startControllerManager(inst) {
  return startManaged(inst, {
    healthy: componentHealthy(PORTS.controllerManager),
    timeoutMs: 90_000,
    launchIt: () =>
      launch(inst, bin('kube-controller-manager'), [
        `--kubeconfig=${KUBECONFIG}`,
        `--authentication-kubeconfig=${KUBECONFIG}`,
        `--authorization-kubeconfig=${KUBECONFIG}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${PORTS.controllerManager}`,
        `--cert-dir=${path.join(inst.dir, 'certs')}`,
        `--service-account-private-key-file=${path.join(PKI, 'sa.key')}`,
        `--root-ca-file=${path.join(PKI, 'ca.crt')}`,
        `--cluster-signing-cert-file=${path.join(PKI, 'ca.crt')}`,
        `--cluster-signing-key-file=${path.join(PKI, 'ca.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ]),
  });
}

function startScheduler(inst) {
  return startManaged(inst, {
    healthy: componentHealthy(PORTS.scheduler),
    timeoutMs: 90_000,
    launchIt: () =>
      launch(inst, bin('kube-scheduler'), [
        `--kubeconfig=${KUBECONFIG}`,
        `--authentication-kubeconfig=${KUBECONFIG}`,
        `--authorization-kubeconfig=${KUBECONFIG}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${PORTS.scheduler}`,
        `--cert-dir=${path.join(inst.dir, 'certs')}`,
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ]),
  });
}

function startKwok(inst) {
  return startManaged(inst, {
    healthy: kwokHealthy,
    timeoutMs: 60_000,
    launchIt: () =>
      launch(inst, bin('kwok'), [
        `--kubeconfig=${KUBECONFIG}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--server-address=127.0.0.1:${PORTS.kwok}`,
        '--cidr=10.244.0.0/16',
        '--node-ip=10.89.0.2',
        // Leases as a kubelet keeps them (renewed every 10 s); without one, KWOK's status heartbeat
        // is slower than the node controller's grace period and the node flaps NotReady.
        '--node-lease-duration-seconds=40',
      ]),
  });
}

// ---------------------------------------------------------------------------------------------
// What kind brings beyond the control plane.

let kubectlBin;

/** kubectl against this cluster (scripts/kube-tools.mjs's pinned one); throws with its output on failure. */
export function kubectl(args, { input, timeoutMs = 120_000, allowFail = false } = {}) {
  const r = spawnSync((kubectlBin ??= ensureKubectl()), args, {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, KUBECONFIG },
  });
  if (!allowFail && r.status !== 0) {
    throw new InfraError('kubectl', `kubectl ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`.slice(0, 4000));
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A simulated node, as kind names and labels it, managed by KWOK. */
export function nodeManifest(name) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...(name.endsWith('control-plane') ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
      },
    },
    spec: {},
    status: {
      capacity: { cpu: NODE_SHAPE.cpu, memory: NODE_SHAPE.memory, pods: NODE_SHAPE.pods, 'ephemeral-storage': '100Gi' },
      allocatable: { cpu: NODE_SHAPE.allocatableCpu, memory: NODE_SHAPE.allocatableMemory, pods: NODE_SHAPE.pods, 'ephemeral-storage': '100Gi' },
      nodeInfo: { kubeletVersion: KUBE_VERSION, operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'kwok' },
    },
  };
}

/**
 * Makes sure the first `count` of NODE_NAMES exist (1: laptop; 3: ha); with `exact`, removes the
 * others (do that only once their pods are gone: KWOK lets go of a deleted node's pods).
 */
export function ensureNodes(count, { exact = false } = {}) {
  const docs = NODE_NAMES.slice(0, count).map(nodeManifest);
  kubectl(['apply', '--server-side', '--field-manager=taskmesh-cluster', '-f', '-'], { input: docs.map((d) => JSON.stringify(d)).join('\n') });
  const extra = NODE_NAMES.slice(count);
  if (exact && extra.length) kubectl(['delete', 'node', '--ignore-not-found', '--wait=true', ...extra]);
}

const PV_POOL = 32;
const PV_SIZE = '10Gi';

/** kind's `standard` StorageClass and, instead of its local-path provisioner, a pool of volumes. */
function standInsManifest() {
  const docs = [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      // Statically provisioned: the claims bind to the pool below.
      provisioner: 'kubernetes.io/no-provisioner',
      reclaimPolicy: 'Retain',
      volumeBindingMode: 'WaitForFirstConsumer',
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        clusterIP: '10.96.0.10',
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        template: {
          metadata: { labels: { 'k8s-app': 'kube-dns' } },
          spec: {
            containers: [
              {
                name: 'coredns',
                image: 'registry.k8s.io/coredns/coredns:v1.12.1',
                resources: { requests: { cpu: '100m', memory: '70Mi' }, limits: { memory: '170Mi' } },
              },
            ],
          },
        },
      },
    },
  ];
  for (let i = 0; i < PV_POOL; i++) {
    const name = `standard-pv-${String(i).padStart(2, '0')}`;
    docs.push({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, labels: { 'taskmesh.dev/pool': 'standard' } },
      spec: {
        capacity: { storage: PV_SIZE },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: 'standard',
        hostPath: { path: `/var/local-path-provisioner/${name}`, type: 'DirectoryOrCreate' },
      },
    });
  }
  return docs;
}

/** Volumes of the pool that a deleted claim released are recreated, so the pool stays usable. */
function recycleReleasedVolumes() {
  const pvs = JSON.parse(kubectl(['get', 'pv', '-l', 'taskmesh.dev/pool=standard', '-o', 'json']).stdout).items;
  const released = pvs.filter((pv) => pv.status?.phase === 'Released' || pv.status?.phase === 'Failed').map((pv) => pv.metadata.name);
  if (released.length) kubectl(['delete', 'pv', '--wait=true', ...released]);
}

export function ensureStandIns() {
  recycleReleasedVolumes();
  kubectl(['apply', '--server-side', '--field-manager=taskmesh-cluster', '-f', '-'], { input: standInsManifest().map((d) => JSON.stringify(d)).join('\n') });
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts the control plane (building it first when needed) with `nodes` simulated nodes; leaves
 * running components alone. Returns what a client needs.
 */
export async function up({ nodes = 1 } = {}) {
  const t0 = Date.now();
  await ensureKubeBuilt();
  fs.mkdirSync(CLUSTER_DIR, { recursive: true });
  ensurePki();
  writeKubeconfig();
  const c = components();
  const started = [];
  const note = (r) => r.started && started.push(r.name);
  note(await startEtcd(c.etcd));
  note(await startApiserver(c.apiserver));
  // Both wait for the API server's RBAC bootstrap; started together to save time.
  const [kcm, sched] = await Promise.all([startControllerManager(c.controllerManager), startScheduler(c.scheduler)]);
  note(kcm);
  note(sched);
  note(await startKwok(c.kwok));
  ensureNodes(nodes);
  ensureStandIns();
  await waitForNodesReady(nodes);
  say(`${started.length ? `started ${started.join(', ')}` : 'already running'} in ${elapsed(t0)}`);
  return { kubeconfig: KUBECONFIG, server: `https://127.0.0.1:${PORTS.apiserver}`, started };
}

async function waitForNodesReady(count, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = JSON.parse(kubectl(['get', 'nodes', '-o', 'json']).stdout).items;
    const ready = items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready.length >= count) return;
    if (Date.now() > deadline) throw new InfraError('kwok', `${ready.length} of ${count} simulated nodes Ready after ${timeoutMs / 1000} s`, components().kwok.logFile);
    await sleep(500);
  }
}

/** Stops every component (in reverse order) and removes the cluster's data. */
export async function down() {
  const c = components();
  const stopped = [];
  for (const inst of [c.kwok, c.scheduler, c.controllerManager, c.apiserver, c.etcd]) {
    if (await stopInstance(inst)) stopped.push(inst.name);
  }
  fs.rmSync(CLUSTER_DIR, { recursive: true, force: true });
  return stopped;
}

export async function status() {
  const c = components();
  const checks = [
    [c.etcd, etcdHealthy],
    [c.apiserver, fs.existsSync(path.join(PKI, 'ca.crt')) ? apiserverReady : async () => false],
    [c.controllerManager, componentHealthy(PORTS.controllerManager)],
    [c.scheduler, componentHealthy(PORTS.scheduler)],
    [c.kwok, kwokHealthy],
  ];
  return Promise.all(checks.map(async ([inst, check]) => ({ name: inst.component, where: inst.address, healthy: await check(), log: inst.logFile })));
}
