// The manifests of k8s/ on a real control plane (kube-apiserver, kube-controller-manager,
// kube-scheduler and etcd 1.34, built from source by scripts/cluster-lib.mjs) with KWOK's simulated
// nodes: applied, admitted by Pod Security "restricted", scheduled, rolled, scaled and drained.
// KWOK simulates the kubelet: pods are scheduled, bound and reported Running/Ready (Jobs' pods
// Succeeded) without containers, so what is proven is everything the API server, the controllers
// and the scheduler decide; what containers do is proven on kind in CI (docs/kubernetes.md).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, YamlOutputType } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBECONFIG, NODE_NAMES, down, ensureNodes, ensureStandIns, kubectl, up } from '../../../scripts/cluster-lib.mjs';
import { ensureHelm, ensureKubectl } from '../../../scripts/kube-tools.mjs';
import { observabilityProps, syncTree } from '../../../infra/src/main.js';
import { buildPlatform } from '../../../infra/src/platform.js';
import { SIZES } from '../../../infra/src/sizes.js';

const REPO = path.resolve(import.meta.dirname, '..', '..', '..');
const NS = 'taskmesh';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

let ownCluster = false;

const getJson = (args: string[]): Obj => JSON.parse(kubectl([...args, '-o', 'json']).stdout);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Server-side apply of a folder; returns kubectl's stderr (warnings land there). */
function apply(dir: string): { stderr: string; stdout: string } {
  const r = kubectl(['apply', '--server-side', '--field-manager=taskmesh', '--force-conflicts', '-f', dir], { timeoutMs: 300_000 });
  return { stderr: r.stderr, stdout: r.stdout };
}

interface Workload {
  kind: string;
  name: string;
  namespace: string;
  generation: number;
  ready: boolean;
  detail: string;
}

function workloads(): Workload[] {
  const items: Obj[] = getJson(['get', 'deployments,statefulsets,jobs', '-A', '-l', 'app.kubernetes.io/part-of=taskmesh']).items;
  return items.map((o) => {
    const s = o.status ?? {};
    const observed = s.observedGeneration === undefined || s.observedGeneration >= o.metadata.generation;
    let ready: boolean;
    let detail: string;
    if (o.kind === 'Job') {
      ready = (s.conditions ?? []).some((c: Obj) => c.type === 'Complete' && c.status === 'True');
      detail = `succeeded ${s.succeeded ?? 0}`;
    } else {
      const want = o.spec.replicas ?? 1;
      const updated = s.updatedReplicas ?? 0;
      const avail = o.kind === 'Deployment' ? (s.availableReplicas ?? 0) : (s.readyReplicas ?? 0);
      ready = observed && updated === want && avail === want && (s.replicas ?? 0) === want;
      detail = `${avail}/${want} available, ${updated} updated`;
    }
    return { kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, generation: o.metadata.generation, ready, detail };
  });
}

/** Waits until every Deployment and StatefulSet is available and every Job complete. */
async function waitAllReady(timeoutMs: number): Promise<{ seconds: number; count: number }> {
  const t0 = Date.now();
  for (;;) {
    const all = workloads();
    const pending = all.filter((w) => !w.ready);
    if (all.length > 0 && pending.length === 0) return { seconds: (Date.now() - t0) / 1000, count: all.length };
    if (Date.now() - t0 > timeoutMs) {
      const pods = kubectl(['get', 'pods', '-A', '-o', 'wide'], { allowFail: true }).stdout;
      const events = kubectl(['get', 'events', '-n', NS, '--field-selector', 'type=Warning'], { allowFail: true }).stdout;
      throw new Error(
        `not ready after ${timeoutMs / 1000} s: ${pending.map((w) => `${w.kind}/${w.name} (${w.detail})`).join(', ')}\n${pods}\n${events.slice(-4000)}`,
      );
    }
    await sleep(1000);
  }
}

/** Runs `kubectl get ... --watch` and hands each line it prints to `onLine`; returns a stopper. */
function watchLines(args: string[], onLine: (line: string) => void): () => void {
  const child = spawn(ensureKubectl(), [...args, '--watch'], { env: { ...process.env, KUBECONFIG } });
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  });
  return () => child.kill();
}

/** Waits until every HPA has brought its target to at least its minimum and all is ready. */
async function waitHpasAtMinimum(timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const hpas: Obj[] = getJson(['get', 'hpa', '-n', NS]).items;
    const low = hpas.filter(
      (h) => (h.status?.currentReplicas ?? 0) < h.spec.minReplicas || (h.status?.desiredReplicas ?? 0) < h.spec.minReplicas,
    );
    if (hpas.length > 0 && low.length === 0) break;
    if (Date.now() - t0 > timeoutMs) throw new Error(`HPAs below their minimum: ${low.map((h) => h.metadata.name).join(', ')}`);
    await sleep(1000);
  }
  await waitAllReady(timeoutMs);
}

/** kubectl's warnings and errors, less the lines that say what it applied. */
const complaints = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '');

/**
 * Removes what a previous apply left. The manifests' APIService for metrics.k8s.io goes first:
 * nothing serves it here (KWOK's pods run no metrics-server), and an aggregated API that fails
 * discovery stops the namespace controller from finishing any deletion, as on any cluster whose
 * metrics-server is down.
 */
async function deleteNamespace(): Promise<void> {
  kubectl(['delete', 'apiservice', 'v1beta1.metrics.k8s.io', '--ignore-not-found']);
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
  ensureStandIns();
}

function podsByWorkload(): Map<string, Obj[]> {
  const pods: Obj[] = getJson(['get', 'pods', '-n', NS]).items;
  const map = new Map<string, Obj[]>();
  for (const p of pods) {
    const name = p.metadata.labels?.['app.kubernetes.io/name'] ?? p.metadata.name;
    map.set(name, [...(map.get(name) ?? []), p]);
  }
  return map;
}

beforeAll(async () => {
  const result = await up({ nodes: 1 });
  ownCluster = result.started.length > 0;
  await deleteNamespace();
  ensureNodes(1, { exact: true });
}, 90 * 60_000);

afterAll(async () => {
  // A cluster this run started is stopped; one a developer had running is left as it was.
  if (ownCluster) await down();
}, 120_000);

describe('the laptop stack on the local control plane', () => {
  it('when k8s/laptop is server-side applied, then the namespace enforces Pod Security restricted and no object is refused or warned about', () => {
    const { stderr, stdout } = apply(path.join(REPO, 'k8s', 'laptop'));
    expect(complaints(stderr), 'kubectl warnings').toEqual([]);
    const applied = stdout.trim().split('\n');
    expect(applied.length).toBeGreaterThan(40);
    const ns = getJson(['get', 'namespace', NS]);
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // The same manifests again: a no-op, the Job included (its template is immutable).
    const again = apply(path.join(REPO, 'k8s', 'laptop'));
    expect(complaints(again.stderr)).toEqual([]);
  });

  it('when applied, then every Deployment and StatefulSet becomes available and every Job completes on the simulated node', async () => {
    const { seconds, count } = await waitAllReady(300_000);
    console.log(`laptop: ${count} workloads ready in ${seconds.toFixed(1)} s`);
    const pvcs: Obj[] = getJson(['get', 'pvc', '-n', NS]).items;
    expect(pvcs.length).toBeGreaterThan(0);
    for (const c of pvcs) expect(c.status.phase, c.metadata.name).toBe('Bound');
    const nodes = new Set(getJson(['get', 'pods', '-n', NS]).items.map((p: Obj) => p.spec.nodeName));
    expect([...nodes]).toEqual([NODE_NAMES[0]]);
  });

  it('when a value in the cdk8s app changes and the output is synthesized and applied, then exactly the workloads it touches roll', async () => {
    const before = new Map(workloads().map((w) => [`${w.kind}/${w.name}`, w.generation]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-cluster-synth-'));
    try {
      const observability = observabilityProps();
      const app = new App({
        outdir: path.join(dir, 'staged'),
        outputFileExtension: '.yaml',
        yamlOutputType: YamlOutputType.FILE_PER_CHART,
      });
      // One more environment variable for the four services.
      buildPlatform(app, {
        size: SIZES.laptop,
        ...observability,
        serviceEnv: { ...observability.serviceEnv, OTEL_METRIC_EXPORT_INTERVAL: '30000' },
      });
      app.synth();
      const out = path.join(dir, 'laptop');
      fs.cpSync(path.join(REPO, 'k8s', 'laptop'), out, { recursive: true });
      const changedFiles = syncTree(path.join(dir, 'staged'), out);
      expect(changedFiles.length).toBeGreaterThan(0);
      const { stderr } = apply(out);
      expect(complaints(stderr)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const after = workloads();
    const rolled = after.filter((w) => before.get(`${w.kind}/${w.name}`) !== w.generation).map((w) => `${w.kind}/${w.name}`);
    expect(rolled.sort()).toEqual(['Deployment/analytics', 'Deployment/auth', 'Deployment/gateway', 'Deployment/task']);
    await waitAllReady(180_000);
    // Back to the committed manifests: the same four roll back, nothing else.
    const mid = new Map(workloads().map((w) => [`${w.kind}/${w.name}`, w.generation]));
    apply(path.join(REPO, 'k8s', 'laptop'));
    const back = workloads()
      .filter((w) => mid.get(`${w.kind}/${w.name}`) !== w.generation)
      .map((w) => `${w.kind}/${w.name}`);
    expect(back.sort()).toEqual(rolled.sort());
    await waitAllReady(180_000);
  });

  it('when task is scaled above its HPA maximum, then the HPA brings it back within bounds', async () => {
    const hpa = getJson(['get', 'hpa', 'task', '-n', NS]);
    const max: number = hpa.spec.maxReplicas;
    kubectl(['scale', 'deployment/task', '-n', NS, `--replicas=${max + 3}`]);
    const t0 = Date.now();
    let replicas = max + 3;
    while (Date.now() - t0 < 120_000) {
      replicas = getJson(['get', 'deployment', 'task', '-n', NS]).spec.replicas;
      if (replicas <= max) break;
      await sleep(1000);
    }
    console.log(`HPA task: scaled to ${max + 3}, back to ${replicas} (max ${max}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(replicas).toBe(max);
    kubectl(['scale', 'deployment/task', '-n', NS, `--replicas=${hpa.spec.minReplicas}`]);
    await waitAllReady(180_000);
  });
});

describe('the ha stack on three simulated nodes', () => {
  beforeAll(async () => {
    // A StatefulSet's volume claim templates are immutable (1Gi on laptop, 5Gi on ha): switching
    // sizes on one cluster starts from an empty namespace.
    await deleteNamespace();
    ensureNodes(3);
  }, 300_000);

  it('when k8s/ha is server-side applied, then nothing is refused or warned about and every workload becomes available, spread over the nodes', async () => {
    const { stderr } = apply(path.join(REPO, 'k8s', 'ha'));
    expect(complaints(stderr), 'kubectl warnings').toEqual([]);
    const { seconds, count } = await waitAllReady(420_000);
    console.log(`ha: ${count} workloads ready in ${seconds.toFixed(1)} s`);
    // The HPAs raise the Deployments to their minimum (3 gateways, 2 of each service).
    await waitHpasAtMinimum(180_000);
    for (const [name, pods] of podsByWorkload()) {
      const running = pods.filter((p) => p.status.phase === 'Running');
      if (running.length < 2) continue;
      const nodes = new Set(running.map((p) => p.spec.nodeName));
      expect(nodes.size, `${name}: ${running.length} pods on ${[...nodes].join(', ')}`).toBe(Math.min(running.length, 3));
    }
  });

  it('when a rolling update runs on a Deployment with maxUnavailable 0, then available replicas never drop below the desired count', async () => {
    for (const name of ['gateway', 'task']) {
      const d = getJson(['get', 'deployment', name, '-n', NS]);
      expect(d.spec.strategy.rollingUpdate.maxUnavailable, name).toBe(0);
      const desired: number = d.spec.replicas;
      const target = d.metadata.generation + 1;
      // Every status the Deployment goes through, from a watch: KWOK's pods are ready within
      // milliseconds, faster than polling could see.
      const states: number[][] = [];
      let stop = () => {};
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: rollout not done after 180 s: ${JSON.stringify(states.slice(-5))}`)),
          180_000,
        );
        stop = watchLines(
          [
            'get',
            'deployment',
            name,
            '-n',
            NS,
            '-o',
            'jsonpath={.status.observedGeneration} {.status.replicas} {.status.updatedReplicas} {.status.availableReplicas}{"\\n"}',
          ],
          (line) => {
            const [gen, replicas, updated, available] = line.split(' ').map((x) => Number(x || 0));
            states.push([gen!, replicas!, updated!, available!]);
            if (gen! >= target && replicas === desired && updated === desired && available === desired) {
              clearTimeout(timer);
              resolve();
            }
          },
        );
      });
      await sleep(1000);
      kubectl(['rollout', 'restart', `deployment/${name}`, '-n', NS]);
      try {
        await done;
      } finally {
        stop();
      }
      const during = states.filter(([gen]) => gen! >= target);
      const minAvailable = Math.min(...during.map((s) => s[3]!));
      const maxReplicas = Math.max(...during.map((s) => s[1]!));
      console.log(
        `rolling update ${name}: ${desired} desired, ${during.length} states seen, available never below ${minAvailable}, at most ${maxReplicas} pods`,
      );
      expect(during.length, 'the rollout went through several states').toBeGreaterThan(desired);
      expect(minAvailable, name).toBeGreaterThanOrEqual(desired);
    }
  });

  it('when a node is drained, then every eviction respects the PodDisruptionBudgets and the workloads come back on the other nodes', async () => {
    const node = NODE_NAMES[1]!;
    const onNode = () =>
      getJson(['get', 'pods', '-n', NS, '--field-selector', `spec.nodeName=${node}`]).items.filter(
        (p: Obj) => !p.metadata.ownerReferences?.some((o: Obj) => o.kind === 'Job'),
      );
    const before = onNode().length;
    expect(before, `pods on ${node}`).toBeGreaterThan(3);
    const drain = spawn(ensureKubectl(), ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=240s'], {
      env: { ...process.env, KUBECONFIG },
    });
    let output = '';
    drain.stdout.on('data', (c) => (output += c));
    drain.stderr.on('data', (c) => (output += c));
    const exited = new Promise<number>((resolve) => drain.on('exit', (code) => resolve(code ?? -1)));
    let running = true;
    void exited.then(() => (running = false));
    const violations: string[] = [];
    let samples = 0;
    const stop = watchLines(
      ['get', 'pdb', '-n', NS, '-o', 'jsonpath={.metadata.name} {.status.currentHealthy} {.status.desiredHealthy}{"\\n"}'],
      (line) => {
        const [name, current, desired] = line.split(' ');
        samples++;
        if (Number(current) < Number(desired)) violations.push(`${name}: ${current} healthy < ${desired}`);
      },
    );
    while (running) await sleep(100);
    stop();
    const code = await exited;
    const evicted = (output.match(/evicted/g) ?? []).length;
    const refused = (output.match(/violate the pod's disruption budget/g) ?? []).length;
    console.log(
      `drain ${node}: ${before} pods, ${evicted} evicted, ${refused} evictions refused by a PDB and retried, ${samples} PDB states seen`,
    );
    expect(code, output.slice(-3000)).toBe(0);
    expect(violations).toEqual([]);
    expect(onNode()).toEqual([]);
    await waitAllReady(240_000);
    const nodes = new Set(getJson(['get', 'pods', '-n', NS]).items.map((p: Obj) => p.spec.nodeName));
    expect(nodes.has(node)).toBe(false);
    kubectl(['uncordon', node]);
  });

  it('when the Helm chart is rendered with the ha profile and applied as a server-side dry run, then the API server admits every object without a warning', () => {
    const rendered = spawnSync(ensureHelm(), ['template', 'taskmesh', path.join(REPO, 'charts', 'taskmesh'), '--set', 'profile=ha'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(rendered.status, rendered.stderr).toBe(0);
    const file = path.join(os.tmpdir(), `taskmesh-chart-ha-${process.pid}.yaml`);
    fs.writeFileSync(file, rendered.stdout);
    try {
      const { stdout, stderr } = kubectl(
        ['apply', '--server-side', '--dry-run=server', '--field-manager=taskmesh', '--force-conflicts', '-f', file],
        {
          timeoutMs: 180_000,
        },
      );
      expect(complaints(stderr), 'kubectl warnings').toEqual([]);
      const objects = stdout
        .trim()
        .split('\n')
        .filter((l) => l.includes('(server dry run)'));
      console.log(`helm chart (ha): ${objects.length} objects admitted by the API server in a dry run`);
      expect(objects.length).toBeGreaterThan(50);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('when the applied NetworkPolicies are read as a table of pod-to-pod edges, then it is exactly the design (docs/kubernetes.md)', () => {
    const policies: Obj[] = getJson(['get', 'networkpolicy', '-n', NS]).items;
    // Each workload's pod template, as applied: the policies select pods by these labels.
    const byName = new Map<string, Obj>();
    for (const w of getJson(['get', 'deployments,statefulsets,jobs', '-n', NS]).items) {
      byName.set(w.metadata.labels?.['app.kubernetes.io/name'] ?? w.metadata.name, w.spec.template);
    }
    const selects = (sel: Obj, labels: Record<string, string>) =>
      Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && !(sel?.matchExpressions?.length > 0);
    const peerMatches = (peer: Obj, labels: Record<string, string>) =>
      // A namespaceSelector names another namespace (kube-system's DNS); an ipBlock is outside.
      !peer.namespaceSelector && !peer.ipBlock && selects(peer.podSelector ?? {}, labels);
    const portMatches = (ports: Obj[] | undefined, port: number) =>
      !ports || ports.some((x) => x.port === port && (x.protocol ?? 'TCP') === 'TCP');
    const allows = (direction: 'egress' | 'ingress', subject: Obj, other: Obj, port: number) => {
      const type = direction === 'egress' ? 'Egress' : 'Ingress';
      const mine = policies.filter(
        (p) => selects(p.spec.podSelector, subject.metadata.labels) && (p.spec.policyTypes ?? ['Ingress']).includes(type),
      );
      if (mine.length === 0) return true;
      return mine.some((p) =>
        (p.spec[direction] ?? []).some((rule: Obj) => {
          const peers = direction === 'egress' ? rule.to : rule.from;
          return portMatches(rule.ports, port) && (!peers || peers.some((peer: Obj) => peerMatches(peer, other.metadata.labels)));
        }),
      );
    };
    const edges: string[] = [];
    for (const [from, src] of byName) {
      for (const [to, dst] of byName) {
        for (const c of dst.spec.containers) {
          for (const cp of c.ports ?? []) {
            if ((cp.protocol ?? 'TCP') !== 'TCP') continue;
            if (allows('egress', src, dst, cp.containerPort) && allows('ingress', dst, src, cp.containerPort))
              edges.push(`${from} -> ${to}:${cp.containerPort}`);
          }
        }
      }
    }
    const services = { auth: 3001, task: 3002, analytics: 3003 };
    const mongod = { 'mongo-config': 27019, 'mongo-shard-0': 27018, 'mongo-shard-1': 27018 };
    const design = [
      ...Object.entries(services).map(([s, port]) => `gateway -> ${s}:${port}`),
      'gateway -> redis:6379',
      // The profile and statistics caches.
      'auth -> redis:6379',
      'analytics -> redis:6379',
      'task -> auth:3001',
      'analytics -> auth:3001',
      ...Object.keys(services).flatMap((s) => [`${s} -> mongos:27017`, `${s} -> kafka:9092`]),
      ...['mongos', 'mongo-init'].flatMap((s) => Object.entries(mongod).map(([m, port]) => `${s} -> ${m}:${port}`)),
      'mongo-init -> mongos:27017', // it adds the shards through the router
      ...Object.keys(mongod).flatMap((a) => Object.entries(mongod).map(([b, port]) => `${a} -> ${b}:${port}`)),
      'kafka -> kafka:9092',
      'kafka -> kafka:9093',
      ...Object.entries({ gateway: 8080, ...services }).map(([s, port]) => `prometheus -> ${s}:${port}`),
      'prometheus -> prometheus:9090', // it scrapes itself
      'grafana -> prometheus:9090',
      // Tracing: the services export spans to the collector (OTLP/HTTP), the collector to Jaeger
      // (OTLP/gRPC), Grafana queries Jaeger.
      ...['gateway', ...Object.keys(services)].map((s) => `${s} -> otel-collector:4318`),
      'otel-collector -> jaeger:4317',
      'grafana -> jaeger:16686',
    ];
    const extra = edges.filter((e) => !design.includes(e));
    const missing = design.filter((e) => !edges.includes(e));
    console.log(`NetworkPolicy edges between ${byName.size} workloads: ${edges.length} allowed\n  ${edges.sort().join('\n  ')}`);
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  });

  it('when the Helm chart is installed with the ha profile into an empty cluster, then every workload becomes available, as with k8s/ha', async () => {
    // The release record lives in the default namespace; the chart makes taskmesh itself.
    const helm = (args: string[], timeoutMs = 60_000) =>
      spawnSync(ensureHelm(), [...args, '--kubeconfig', KUBECONFIG, '--namespace', 'default'], {
        encoding: 'utf8',
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
    helm(['uninstall', 'taskmesh', '--ignore-not-found']);
    // What kubectl applied outside the namespace (metrics-server in kube-system, cluster roles)
    // would otherwise be refused by Helm as objects it does not own: remove k8s/ha as a whole.
    kubectl(['delete', 'apiservice', 'v1beta1.metrics.k8s.io', '--ignore-not-found']);
    kubectl(['delete', '-f', path.join(REPO, 'k8s', 'ha'), '--ignore-not-found', '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
    await deleteNamespace();
    const t0 = Date.now();
    const install = spawnSync(
      ensureHelm(),
      [
        'install',
        'taskmesh',
        path.join(REPO, 'charts', 'taskmesh'),
        '--set',
        'profile=ha',
        '--kubeconfig',
        KUBECONFIG,
        '--namespace',
        'default',
      ],
      { encoding: 'utf8', timeout: 450_000, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(install.status, `${install.stderr}${install.stdout}`).toBe(0);
    expect(install.stdout).toMatch(/STATUS: deployed/);
    const { seconds, count } = await waitAllReady(420_000);
    console.log(
      `helm install (ha): deployed, ${count} workloads available ${((Date.now() - t0) / 1000).toFixed(1)} s after install began (${seconds.toFixed(1)} s of waiting)`,
    );
    const releases = JSON.parse(helm(['list', '-o', 'json']).stdout) as { name: string; status: string }[];
    expect(releases.map((r) => [r.name, r.status])).toEqual([['taskmesh', 'deployed']]);
    const uninstall = helm(['uninstall', 'taskmesh'], 120_000);
    expect(uninstall.status, uninstall.stderr).toBe(0);
  }, 900_000);
});
