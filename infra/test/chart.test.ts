import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ensureHelm } from '../../scripts/kube-tools.mjs';
// @ts-expect-error: a plain ESM script shared with the command line, without type declarations
import { ensureTools, KUBERNETES_VERSION } from '../scripts/install-tools.mjs';
import { chartFiles } from '../src/helm-chart.js';
import { hashOf } from '../src/http-service.js';
import { observabilityProps } from '../src/main.js';
import { type MeasuredService, resourcesFromMeasurements } from '../src/service-resources.js';
import { find, K8S, type K8sObject, loadObjects, readTree, REPO } from './manifests.js';

const CHART = path.join(REPO, 'charts', 'taskmesh');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-chart-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
let helm: string;

beforeAll(() => {
  helm = ensureHelm();
}, 600_000);

function runHelm(args: string[]) {
  const r = spawnSync(helm, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of the committed chart with `--set` values; the objects it renders. */
function render(...set: string[]): K8sObject[] {
  const { status, stdout, stderr } = runHelm(['template', 'taskmesh', CHART, ...set.flatMap((s) => ['--set', s])]);
  expect(status, stderr).toBe(0);
  // Parsed as Kubernetes does (YAML 1.1: a plain `no` is false), so ambiguous scalars fail the comparisons.
  return parseAllDocuments(stdout, { version: '1.1' })
    .map((d) => {
      if (d.errors.length > 0) throw d.errors[0];
      return d.toJS() as K8sObject;
    })
    .filter(Boolean);
}

/** The error of a `helm template` that must fail. */
function renderError(...set: string[]): string {
  const { status, stderr } = runHelm(['template', 'taskmesh', CHART, ...set.flatMap((s) => ['--set', s])]);
  expect(status).not.toBe(0);
  return stderr;
}

const keyOf = (o: K8sObject) => `${o.kind} ${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;
const names = (objects: K8sObject[]) => objects.map(keyOf).sort();

function expectSameObjects(rendered: K8sObject[], synthesized: K8sObject[]) {
  const mine = new Map(rendered.map((o) => [keyOf(o), o]));
  const theirs = new Map(synthesized.map((o) => [keyOf(o), o]));
  expect(mine.size, 'two rendered objects share a kind and name').toBe(rendered.length);
  expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
  for (const [key, object] of theirs) expect(mine.get(key), key).toEqual(object);
}

const container = (objects: K8sObject[], name: string) => find(objects, 'Deployment', name).spec.template.spec.containers[0];

describe('charts/taskmesh is generated from the cdk8s app', () => {
  it('when generated, then the committed chart equals the output (npm run synth fixes drift)', () => {
    const fresh = chartFiles(observabilityProps());
    const committed = readTree(CHART);
    const stale = [...committed.keys()].filter((f) => !fresh.has(f));
    const missing = [...fresh.keys()].filter((f) => !committed.has(f));
    const changed = [...fresh.keys()].filter((f) => committed.has(f) && committed.get(f) !== fresh.get(f));
    expect({ stale, missing, changed }, 'charts/taskmesh is out of date: run `npm run synth` and commit charts/').toEqual({
      stale: [],
      missing: [],
      changed: [],
    });
  });

  it('when generated twice, then both are byte for byte the same', () => {
    const a = chartFiles(observabilityProps());
    const b = chartFiles(observabilityProps());
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [file, text] of a) expect(b.get(file), file).toBe(text);
  });

  it('when linted strictly, then helm lint reports no warning or error', () => {
    const { status, stdout, stderr } = runHelm(['lint', '--strict', CHART]);
    expect(status, `${stdout}${stderr}`).toBe(0);
    expect(stdout).toContain('0 chart(s) failed');
    expect(stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template reproduces k8s/', () => {
  it('when rendered with the default values, then its objects are those of k8s/laptop', () => {
    const rendered = render();
    expect(rendered.length).toBeGreaterThan(100);
    expectSameObjects(rendered, loadObjects(path.join(K8S, 'laptop')));
  });

  it('when rendered with profile=ha, then its objects are those of k8s/ha', () => {
    expectSameObjects(render('profile=ha'), loadObjects(path.join(K8S, 'ha')));
  });
});

describe('values', () => {
  it('when a registry, tag and pull policy are set, then the four images use them and no other image changes', () => {
    const base = render();
    const objects = render('image.registry=ghcr.io/acme/', 'image.tag=1.2.3', 'image.pullPolicy=Always');
    for (const name of ['gateway', 'auth', 'task', 'analytics']) {
      expect(container(objects, name).image).toBe(`ghcr.io/acme/taskmesh/${name}:1.2.3`);
      expect(container(objects, name).imagePullPolicy).toBe('Always');
    }
    expect(container(objects, 'mongos').image).toBe(container(base, 'mongos').image);
    expect(container(objects, 'prometheus').image).toBe(container(base, 'prometheus').image);
  });

  it('when HPA bounds and resources are set, then the HPA and the container follow, per profile otherwise', () => {
    const objects = render(
      'profile=ha',
      'task.autoscaling.minReplicas=5',
      'task.resources.requests.cpu=250m',
      'task.resources.limits.cpu=1',
    );
    expect(find(objects, 'HorizontalPodAutoscaler', 'task').spec).toMatchObject({ minReplicas: 5, maxReplicas: 8 });
    expect(find(objects, 'HorizontalPodAutoscaler', 'gateway').spec).toMatchObject({ minReplicas: 3, maxReplicas: 10 });
    const measured = (name: MeasuredService) => resourcesFromMeasurements(name);
    expect(container(objects, 'task').resources.requests).toEqual({
      cpu: '250m',
      memory: `${measured('task').memoryRequestMiB}Mi`,
      'ephemeral-storage': '64Mi',
    });
    expect(container(objects, 'task').resources.limits.cpu).toBe(1);
    expect(container(objects, 'auth').resources.requests.cpu).toBe(`${measured('auth').cpuRequestMillicores}m`);
  });

  it('when the gateway Service type changes, then nodePort goes with NodePort and LoadBalancer only', () => {
    expect(find(render('gateway.service.type=ClusterIP'), 'Service', 'gateway').spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'http', port: 8080, targetPort: 8080 }],
    });
    expect(find(render('gateway.service.type=ClusterIP'), 'Service', 'gateway').spec.ports[0]).not.toHaveProperty('nodePort');
    expect(
      find(render('gateway.service.type=LoadBalancer', 'gateway.service.nodePort=null'), 'Service', 'gateway').spec.ports[0],
    ).not.toHaveProperty('nodePort');
    const grafana = find(
      render('monitoring.grafana.service.type=LoadBalancer', 'monitoring.grafana.service.nodePort=31000'),
      'Service',
      'grafana',
    );
    expect(grafana.spec).toMatchObject({ type: 'LoadBalancer', ports: [{ nodePort: 31000 }] });
  });

  it('when MongoDB, Kafka and Redis are external, then none is installed and the services get their addresses, with a rolled config hash', () => {
    const uri = 'mongodb://db.example:27017/?replicaSet=rs0&w=majority';
    const objects = render(
      'mongodb.enabled=false',
      `mongodb.external.uri=${uri.replaceAll(',', '\\,')}`,
      'kafka.enabled=false',
      'kafka.external.existingSecret=kafka-endpoint',
      'redis.enabled=false',
      'redis.external.url=rediss://cache.example:6380',
    );
    const bundled = (o: K8sObject) => /^(mongo|kafka|redis)/.test(o.metadata.name) && o.kind !== 'NetworkPolicy';
    expect(objects.filter(bundled).map(keyOf)).toEqual([]);
    expect(names(objects.filter((o) => o.kind === 'NetworkPolicy' && /^(mongo|kafka|redis)/.test(o.metadata.name)))).toEqual([]);

    for (const name of ['auth', 'task', 'analytics']) {
      const data = find(objects, 'ConfigMap', `${name}-config`).data;
      expect(data.MONGODB_URI).toBe(uri);
      expect(data.KAFKA_BROKERS).toBe('');
      const pod = find(objects, 'Deployment', name).spec.template;
      // The annotation is the one http-service.ts would compute for this data ('&' included).
      expect(pod.metadata.annotations['taskmesh.dev/config-hash']).toBe(hashOf(data));
      expect(pod.spec.containers[0].env).toContainEqual({
        name: 'KAFKA_BROKERS',
        valueFrom: { secretKeyRef: { name: 'kafka-endpoint', key: 'brokers' } },
      });
      expect(pod.spec.containers[0].env.map((e: K8sObject) => e.name)).not.toContain('MONGODB_URI');
    }
    const before = find(render(), 'Deployment', 'auth').spec.template.metadata.annotations['taskmesh.dev/config-hash'];
    expect(find(objects, 'Deployment', 'auth').spec.template.metadata.annotations['taskmesh.dev/config-hash']).not.toBe(before);
    expect(find(objects, 'ConfigMap', 'gateway-config').data.REDIS_URL).toBe('rediss://cache.example:6380');
    expect(find(objects, 'Deployment', 'gateway').spec.template.spec.containers[0]).not.toHaveProperty('env');

    expect(find(objects, 'NetworkPolicy', 'allow-external-mongodb').spec).toEqual({
      podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['analytics', 'auth', 'task'] }] },
      policyTypes: ['Egress'],
      egress: [{ ports: [{ port: 27017, protocol: 'TCP' }] }],
    });
    expect(find(objects, 'NetworkPolicy', 'allow-external-kafka').spec.egress).toEqual([{ ports: [{ port: 9092, protocol: 'TCP' }] }]);
    expect(find(objects, 'NetworkPolicy', 'allow-external-redis').spec.podSelector.matchExpressions[0].values).toEqual([
      'analytics',
      'auth',
      'gateway',
    ]);
  });

  it('when a Secret holds the Redis URL, then the gateway, which had no env, gets one, and so do auth and analytics (their caches)', () => {
    const objects = render('redis.enabled=false', 'redis.external.existingSecret=redis-url', 'redis.external.secretKey=url');
    const fromSecret = { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'redis-url', key: 'url' } } };
    expect(find(objects, 'Deployment', 'gateway').spec.template.spec.containers[0].env).toEqual([fromSecret]);
    for (const name of ['auth', 'analytics']) {
      expect(find(objects, 'Deployment', name).spec.template.spec.containers[0].env).toContainEqual(fromSecret);
    }
    expect(find(objects, 'Deployment', 'task').spec.template.spec.containers[0].env).not.toContainEqual(fromSecret);
  });

  it('when a bundled component is disabled without an external one, then rendering fails saying which value to set', () => {
    expect(renderError('mongodb.enabled=false')).toContain(
      'mongodb.enabled is false: name the external one with mongodb.external.uri, or a Secret holding it with mongodb.external.existingSecret',
    );
    expect(renderError('kafka.enabled=false')).toContain('kafka.external.brokers');
  });

  it('when values are of the wrong kind, then the schema rejects them before anything renders', () => {
    expect(renderError('profile=huge')).toMatch(/profile/);
    expect(renderError('gateway.service.type=Ingress')).toMatch(/type/);
    expect(renderError('auth.autoscaling.minReplicas=0')).toMatch(/minReplicas/);
    expect(renderError('mongodb.enable=false')).toMatch(/enable/);
  });

  it('when monitoring, metrics-server, the namespace and the placeholder Secrets are left out, then only the rest renders', () => {
    const objects = render(
      'monitoring.enabled=false',
      'monitoring.external.otlpEndpoint=http://collector.observability:4318',
      'monitoring.external.scrapeFrom[0].namespaceSelector.matchLabels.name=observability',
      'metricsServer.enabled=false',
      'namespace.create=false',
      'placeholderSecrets.create=false',
    );
    const gone = [
      'prometheus',
      'grafana',
      'otel-collector',
      'jaeger',
      'metrics-server',
      'grafana-admin',
      'auth-signing-keys',
      'task-secrets',
    ];
    expect(objects.filter((o) => gone.includes(o.metadata.name) || o.kind === 'Namespace' || o.kind === 'APIService').map(keyOf)).toEqual(
      [],
    );
    expect(find(objects, 'ConfigMap', 'task-config').data.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://collector.observability:4318');
    expect(find(objects, 'NetworkPolicy', 'allow-external-monitoring').spec.egress).toEqual([{ ports: [{ port: 4318, protocol: 'TCP' }] }]);
    expect(find(objects, 'NetworkPolicy', 'allow-external-scrape').spec.ingress).toEqual([
      {
        from: [{ namespaceSelector: { matchLabels: { name: 'observability' } } }],
        ports: [3001, 3002, 3003, 8080].map((port) => ({ port, protocol: 'TCP' })),
      },
    ]);
    // Tracing simply stops without a collector: no failure, no policy.
    const quiet = render('monitoring.enabled=false');
    expect(find(quiet, 'ConfigMap', 'gateway-config').data.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('');
    expect(quiet.filter((o) => o.metadata.name.startsWith('allow-external')).map(keyOf)).toEqual([]);
  });

  it(`when rendered with values other than the defaults, then every object is still valid for Kubernetes ${KUBERNETES_VERSION}`, () => {
    const tools = ensureTools() as { kubeconform: string; kubernetesSchemas: string };
    const variants = {
      'external.yaml': [
        'profile=ha',
        'mongodb.enabled=false',
        'mongodb.external.existingSecret=mongo',
        'kafka.enabled=false',
        'kafka.external.brokers=k1:9092',
        'redis.enabled=false',
        'redis.external.url=redis://r:6379',
        'monitoring.enabled=false',
        'monitoring.external.otlpEndpoint=http://c:4318',
        'monitoring.external.scrapeFrom[0].podSelector.matchLabels.app=prometheus',
        'gateway.service.type=LoadBalancer',
        'image.registry=ghcr.io/acme',
      ],
      'sized.yaml': ['gateway.autoscaling.maxReplicas=20', 'analytics.resources.limits.memory=1Gi', 'gateway.service.type=ClusterIP'],
    };
    for (const [file, set] of Object.entries(variants)) {
      const { status, stdout, stderr } = runHelm(['template', 'taskmesh', CHART, ...set.flatMap((s) => ['--set', s])]);
      expect(status, stderr).toBe(0);
      fs.writeFileSync(path.join(scratch, file), stdout);
    }
    const location = path.join(tools.kubernetesSchemas, '{{ .ResourceKind }}{{ .KindSuffix }}.json');
    const r = spawnSync(
      tools.kubeconform,
      [
        '-strict',
        '-summary',
        '-kubernetes-version',
        KUBERNETES_VERSION,
        '-schema-location',
        location,
        ...Object.keys(variants).map((f) => path.join(scratch, f)),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const out = `${r.stdout}${r.stderr}`;
    const summary = /Summary: (\d+) resources found in \d+ files - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)/.exec(out);
    expect(summary, out).not.toBeNull();
    const [, found, valid] = summary!.map(Number);
    console.log(`kubeconform on non-default renderings: ${found} objects, ${valid} valid`);
    expect(found).toBeGreaterThan(50);
    expect(valid, out).toBe(found);
  }, 900_000);
});
