import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NAMESPACE, PORTS, SHARDED_COLLECTIONS } from '../src/platform.js';
import { SIZES } from '../src/sizes.js';
import { byKind, bytes, find, K8S, type K8sObject, loadObjects, milliCpu, restrictedViolations, selects, workloads } from './manifests.js';

const stacks = { laptop: loadObjects(path.join(K8S, 'laptop')), ha: loadObjects(path.join(K8S, 'ha')) };
const tools = loadObjects(path.join(K8S, 'tools'));
const APPS = ['gateway', 'auth', 'task', 'analytics'] as const;

/** Sum of requests over the pods the stack starts with: replicas, or the HPA minimum. */
function totalRequests(objects: K8sObject[]) {
  const hpaMin = new Map(byKind(objects, 'HorizontalPodAutoscaler').map((h) => [h.spec.scaleTargetRef.name, h.spec.minReplicas]));
  let cpu = 0;
  let memory = 0;
  for (const { object, template, replicas } of workloads(objects)) {
    const count = hpaMin.get(object.metadata.name) ?? replicas;
    for (const c of template.spec.containers) {
      cpu += count * milliCpu(c.resources?.requests?.cpu);
      memory += count * bytes(c.resources?.requests?.memory);
    }
  }
  return { cpu, memory };
}

describe.each(Object.entries(stacks))('the %s stack', (size, objects) => {
  it('when counted as replicas × requests (HPA minimums included), then it is reported and within 4 CPU and 6 GiB on a laptop', () => {
    const { cpu, memory } = totalRequests(objects);
    console.log(`${size}: total requests ${(cpu / 1000).toFixed(2)} CPU, ${(memory / 2 ** 30).toFixed(2)} GiB`);
    if (size === 'laptop') {
      expect(cpu).toBeLessThanOrEqual(4000);
      expect(memory).toBeLessThanOrEqual(6 * 2 ** 30);
    }
  });

  it('when any pod of the namespace is admitted, then it passes the Pod Security "restricted" profile with a read-only root filesystem', () => {
    const namespace = find(objects, 'Namespace', NAMESPACE);
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pods = workloads([...objects, ...tools]);
    expect(pods.length).toBeGreaterThan(10);
    for (const { object, template } of pods) {
      expect(restrictedViolations(template.spec), `${object.kind} ${object.metadata.name}`).toEqual([]);
    }
  });

  it('when the PSS check sees a privileged or root container, then it reports it (the check can fail)', () => {
    const spec = structuredClone(find(objects, 'Deployment', 'gateway').spec.template.spec);
    spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    spec.containers[0].securityContext.runAsNonRoot = false;
    spec.volumes.push({ name: 'host', hostPath: { path: '/' } });
    expect(restrictedViolations(spec)).toEqual([
      'volume host of type hostPath',
      'gateway: allowPrivilegeEscalation not false',
      'gateway: runAsNonRoot not true',
    ]);
  });

  it('when a container runs, then it has requests and limits for CPU, memory and ephemeral storage and pulls IfNotPresent', () => {
    for (const { object, template } of workloads(objects)) {
      for (const c of template.spec.containers) {
        const where = `${object.metadata.name}/${c.name}`;
        expect(c.imagePullPolicy, where).toBe('IfNotPresent');
        expect(c.image, where).toMatch(/:[\w.-]+$/);
        for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
          expect(c.resources?.requests?.[r], `${where} request ${r}`).toBeDefined();
          expect(c.resources?.limits?.[r], `${where} limit ${r}`).toBeDefined();
        }
      }
    }
  });

  it.each(APPS)(
    'when %s is deployed, then it has health probes, a zero-downtime rollout and a grace period longer than its drain',
    (name) => {
      const deployment = find(objects, 'Deployment', name);
      const pod = deployment.spec.template.spec;
      const [container] = pod.containers;
      const config = find(objects, 'ConfigMap', `${name}-config`).data;
      expect(container.startupProbe.httpGet).toMatchObject({ path: '/health/live', port: PORTS[name] });
      expect(container.readinessProbe.httpGet).toMatchObject({ path: '/health/ready', port: PORTS[name] });
      expect(container.livenessProbe.httpGet).toMatchObject({ path: '/health/live', port: PORTS[name] });
      expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      expect(deployment.spec.replicas, 'the HPA owns the replica count').toBeUndefined();
      const preStop = Number(container.lifecycle.preStop.exec.command[1]);
      expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep');
      // The drain sequence of docs/kubernetes.md: preStop pause, drain with Connection: close, close, slack.
      expect(Number(config.DRAIN_MS)).toBeGreaterThan(4000); // above the apps' keep-alive timeout
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + (Number(config.DRAIN_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(find(objects, 'ServiceAccount', name).automountServiceAccountToken).toBe(false);
      expect(pod.serviceAccountName).toBe(name);
      const tmp = container.volumeMounts.find((m: K8sObject) => m.mountPath === '/tmp');
      expect(pod.volumes.find((v: K8sObject) => v.name === tmp.name).emptyDir).toBeDefined();
      expect(config.PORT).toBe(String(PORTS[name]));
      expect(find(objects, 'Service', name).spec.ports[0].port).toBe(PORTS[name]);
      expect(deployment.spec.template.metadata.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(PORTS[name]),
      });
    },
  );

  it('when an HPA scales a Deployment, then it is autoscaling/v2 on 70% CPU with the size bounds, and every Deployment and StatefulSet has a PDB', () => {
    const bounds = SIZES[size as keyof typeof SIZES];
    for (const name of APPS) {
      const hpa = find(objects, 'HorizontalPodAutoscaler', name);
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.metrics).toEqual([
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      ]);
      const range = name === 'gateway' ? bounds.gateway : bounds.services;
      expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([range.min, range.max]);
      expect(hpa.spec.behavior.scaleUp.policies.length).toBeGreaterThan(0);
      expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(0);
    }
    const pdbs = byKind(objects, 'PodDisruptionBudget');
    for (const w of [...byKind(objects, 'Deployment'), ...byKind(objects, 'StatefulSet')]) {
      const matching = pdbs.filter(
        (p) => p.metadata.namespace === w.metadata.namespace && selects(p.spec.selector.matchLabels, w.spec.template.metadata.labels),
      );
      expect(matching, `PDB of ${w.metadata.name}`).toHaveLength(1);
    }
  });

  it('when the NetworkPolicies apply, then everything is denied except DNS and the edges of the design', () => {
    const policies = byKind(objects, 'NetworkPolicy').filter((p) => p.metadata.namespace === NAMESPACE);
    const deny = find(policies, 'NetworkPolicy', 'default-deny');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(find(policies, 'NetworkPolicy', 'allow-dns').spec.egress[0].ports.map((p: K8sObject) => p.port)).toEqual([53, 53]);

    const labelsOf = (name: string) =>
      // by name, or by app name for the Job whose name carries its hash
      workloads(objects).find((w) => w.object.metadata.name === name || w.template.metadata.labels?.['app.kubernetes.io/name'] === name)
        ?.template.metadata.labels as Record<string, string>;
    /** Whether traffic from pod `a` to pod `b` on `port` passes both a's egress and b's ingress. */
    const allowed = (a: string, b: string, port: number) => {
      const from = labelsOf(a);
      const to = labelsOf(b);
      const egress = policies.some(
        (p) =>
          selects(p.spec.podSelector.matchLabels, from) &&
          (p.spec.egress ?? []).some(
            (r: K8sObject) =>
              r.ports?.some((x: K8sObject) => x.port === port) &&
              (!r.to ||
                r.to.some((peer: K8sObject) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector.matchLabels, to))),
          ),
      );
      const ingress = policies.some(
        (p) =>
          selects(p.spec.podSelector.matchLabels, to) &&
          (p.spec.ingress ?? []).some(
            (r: K8sObject) =>
              r.ports?.some((x: K8sObject) => x.port === port) &&
              (!r.from || r.from.some((peer: K8sObject) => selects(peer.podSelector?.matchLabels, from))),
          ),
      );
      return egress && ingress;
    };

    for (const upstream of ['auth', 'task', 'analytics'] as const) {
      expect(allowed('gateway', upstream, PORTS[upstream]), `gateway → ${upstream}`).toBe(true);
      expect(allowed(upstream, 'mongos', 27017), `${upstream} → mongos`).toBe(true);
      expect(allowed(upstream, 'kafka', 9092), `${upstream} → kafka`).toBe(true);
      // auth's profile cache and analytics' statistics cache; task caches nothing.
      expect(allowed(upstream, 'redis', 6379), `${upstream} → redis`).toBe(upstream !== 'task');
      expect(allowed(upstream, 'mongo-shard-0', 27018), `${upstream} → a shard directly`).toBe(false);
    }
    expect(allowed('gateway', 'redis', 6379)).toBe(true);
    expect(allowed('gateway', 'mongos', 27017)).toBe(false);
    expect(allowed('gateway', 'kafka', 9092)).toBe(false);
    expect(allowed('task', 'auth', PORTS.auth), 'JWKS').toBe(true);
    expect(allowed('auth', 'task', PORTS.task)).toBe(false);
    for (const app of APPS) expect(allowed('prometheus', app, PORTS[app]), `prometheus → ${app}`).toBe(true);
    expect(allowed('grafana', 'prometheus', 9090)).toBe(true);
    for (const app of APPS) {
      expect(allowed(app, 'otel-collector', 4318), `${app} → collector`).toBe(true);
      expect(allowed(app, 'jaeger', 4317), `${app} → jaeger, past the collector`).toBe(false);
    }
    expect(allowed('otel-collector', 'jaeger', 4317)).toBe(true);
    expect(allowed('grafana', 'jaeger', 16686)).toBe(true);
    expect(allowed('otel-collector', 'jaeger', 16686)).toBe(false);
    expect(allowed('mongos', 'mongo-config', 27019)).toBe(true);
    expect(allowed('mongos', 'mongo-shard-1', 27018)).toBe(true);
    expect(allowed('mongo-shard-0', 'mongo-shard-1', 27018), 'chunk migration').toBe(true);
    expect(allowed('mongo-init', 'mongo-shard-0', 27018)).toBe(true);
    expect(allowed('kafka', 'kafka', 9093), 'KRaft quorum').toBe(true);

    // Every pod of the namespace is fenced by a policy naming it, not only by the default deny.
    for (const { object, template } of workloads(objects)) {
      if (object.metadata.namespace !== NAMESPACE) continue;
      const own = policies.filter(
        (p) => Object.keys(p.spec.podSelector).length > 0 && selects(p.spec.podSelector.matchLabels, template.metadata.labels),
      );
      expect(own.length, object.metadata.name).toBeGreaterThan(0);
    }
  });

  it('when MongoDB is initialized, then every replica set has the size members, and the collections are sharded on the keys of the design', () => {
    const members = SIZES[size as keyof typeof SIZES].mongoReplicaSetMembers;
    const sets = byKind(objects, 'StatefulSet').filter((s) => s.metadata.name.startsWith('mongo-'));
    expect(sets.map((s) => s.metadata.name).sort()).toEqual(['mongo-config', 'mongo-shard-0', 'mongo-shard-1']);
    for (const set of sets) {
      expect(set.spec.replicas).toBe(members);
      expect(set.spec.template.spec.containers[0].image).toMatch(/^mongo:7\./);
      expect(set.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe(SIZES[size as keyof typeof SIZES].volumeSize);
    }
    expect(find(objects, 'StatefulSet', 'mongo-config').spec.template.spec.containers[0].command).toContain('--configsvr');
    const mongos = find(objects, 'Deployment', 'mongos').spec.template.spec.containers[0].command;
    const configDb = mongos[mongos.indexOf('--configdb') + 1] as string;
    expect(configDb.split('/')[0]).toBe('cfg');
    expect(configDb.split('/')[1]!.split(',')).toHaveLength(members);

    const jobs = objects.filter((o) => o.kind === 'Job' && /^mongo-init-[0-9a-f]{10}$/.test(o.metadata.name));
    expect(jobs, 'one mongo-init Job whose name carries its hash').toHaveLength(1);
    const job = jobs[0]!;
    // Re-appliable: nothing in its immutable template changes without its name changing too.
    expect(job.spec.template.metadata.annotations?.['taskmesh.dev/config-hash']).toBeUndefined();
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    const env = job.spec.template.spec.containers[0].env.find((e: K8sObject) => e.name === 'MONGO_TOPOLOGY');
    const topology = JSON.parse(env.value);
    expect(topology.configReplicaSet).toMatchObject({ name: 'cfg', configsvr: true });
    expect(topology.configReplicaSet.members).toHaveLength(members);
    expect(topology.shards.map((s: K8sObject) => [s.name, s.members.length])).toEqual([
      ['shard0', members],
      ['shard1', members],
    ]);
    const keys = Object.fromEntries(topology.collections.map((c: K8sObject) => [c.namespace, [c.key, c.unique]]));
    expect(keys['task.tasks']).toEqual([{ ownerId: 'hashed' }, false]);
    expect(keys['analytics.user_stats']).toEqual([{ userId: 'hashed' }, false]);
    expect(keys['auth.users']).toEqual([{ email: 1 }, true]);
    expect(keys['auth.login_failures']).toEqual([{ account: 'hashed' }, false]);
    expect(topology.collections).toHaveLength(SHARDED_COLLECTIONS.length);
    const script = find(objects, 'ConfigMap', 'mongo-init-script').data['init.js'];
    for (const command of ['replSetInitiate', 'addShard', 'enableSharding', 'shardCollection']) expect(script).toContain(command);
  });

  it('when Kafka starts, then it is KRaft with one voter per node and no topic auto-creation', () => {
    const nodes = SIZES[size as keyof typeof SIZES].kafkaNodes;
    const set = find(objects, 'StatefulSet', 'kafka');
    expect(set.spec.replicas).toBe(nodes);
    expect(set.spec.template.spec.containers[0].image).toMatch(/^apache\/kafka:3\.9\./);
    const props = find(objects, 'ConfigMap', 'kafka-config').data['server.properties'] as string;
    expect(props).toContain('process.roles=broker,controller');
    expect(props).toContain('auto.create.topics.enable=false');
    const voters = /controller\.quorum\.voters=(.*)/.exec(props)![1]!.split(',');
    expect(voters).toHaveLength(nodes);
    expect(props).toContain(`default.replication.factor=${Math.min(3, nodes)}`);
    expect(find(objects, 'Service', 'kafka-headless').spec.publishNotReadyAddresses).toBe(true);
  });

  it('when Kafka logs, then everything goes to the console and no file fills its /tmp', () => {
    const config = find(objects, 'ConfigMap', 'kafka-config').data;
    const log4j = config['log4j.properties'] as string;
    expect(log4j).toMatch(/^log4j\.rootLogger=INFO, stdout$/m);
    const appenders = [...log4j.matchAll(/^log4j\.appender\.(\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]);
    expect(appenders).toEqual([['stdout', 'org.apache.log4j.ConsoleAppender']]);
    const env = Object.fromEntries(
      find(objects, 'StatefulSet', 'kafka').spec.template.spec.containers[0].env.map((e: K8sObject) => [e.name, e.value]),
    );
    expect(env.KAFKA_LOG4J_OPTS).toBe('-Dlog4j.configuration=file:/etc/kafka-config/log4j.properties');
    expect(env.EXTRA_ARGS).not.toContain('-loggc');
  });

  it('when secrets are synthesized, then each is marked as a local placeholder and wired to the services that read it', () => {
    const secrets = byKind(objects, 'Secret');
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual(['auth-signing-keys', 'grafana-admin', 'task-secrets']);
    for (const s of secrets) expect(s.metadata.annotations['taskmesh.dev/placeholder']).toBe('true');
    expect(find(objects, 'Secret', 'auth-signing-keys').stringData.current).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const authEnv = find(objects, 'Deployment', 'auth').spec.template.spec.containers[0].env;
    expect(authEnv.map((e: K8sObject) => [e.name, e.valueFrom.secretKeyRef.name])).toEqual([
      ['AUTH_SIGNING_KEY_CURRENT', 'auth-signing-keys'],
      ['AUTH_SIGNING_KEY_PREVIOUS', 'auth-signing-keys'],
    ]);
  });

  it('when Prometheus and Grafana run, then Prometheus discovers annotated pods of the namespace and Grafana has the dashboards and the datasource', () => {
    const prometheus = JSON.parse(find(objects, 'ConfigMap', 'prometheus-config').data['prometheus.yml']);
    const pods = prometheus.scrape_configs.find((j: K8sObject) => j.job_name === 'taskmesh');
    expect(pods.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [NAMESPACE] } }]);
    expect(pods.relabel_configs[0]).toMatchObject({ action: 'keep', regex: 'true' });
    expect(JSON.parse(find(objects, 'ConfigMap', 'prometheus-rules').data['alerts.yaml']).groups).toBeInstanceOf(Array);
    const datasources = JSON.parse(find(objects, 'ConfigMap', 'grafana-provisioning').data['datasources.yaml']);
    expect(datasources.datasources[0]).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' });
    const dashboards = find(objects, 'ConfigMap', 'grafana-dashboards').data ?? {};
    for (const [file, json] of Object.entries(dashboards)) expect(() => JSON.parse(json as string), file).not.toThrow();
    expect(find(objects, 'RoleBinding', 'prometheus').roleRef.name).toBe('prometheus');
  });

  it('when spans are exported, then every service sends them to the collector, which forwards them to Jaeger, which Grafana queries', () => {
    for (const name of APPS) {
      const config = find(objects, 'ConfigMap', `${name}-config`).data;
      expect(config.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe('http://otel-collector:4318');
      expect(config.OTEL_SERVICE_NAME, name).toBe(name);
    }
    const collectorService = find(objects, 'Service', 'otel-collector');
    expect(collectorService.spec.ports.map((p: K8sObject) => p.port)).toEqual([4317, 4318]);
    const collector = find(objects, 'Deployment', 'otel-collector').spec.template.spec.containers[0];
    expect(collector.image).toMatch(/^otel\/opentelemetry-collector:\d+\.\d+\.\d+$/);
    const file = collector.args[0].replace('--config=', '');
    const mount = collector.volumeMounts.find((m: K8sObject) => file.startsWith(`${m.mountPath}/`));
    expect(mount, 'the config file is in a mounted volume').toBeDefined();
    const pipeline = JSON.parse(find(objects, 'ConfigMap', 'otel-collector-config').data[file.slice(mount.mountPath.length + 1)]);
    expect(pipeline.exporters['otlp/traces'].endpoint).toBe('jaeger:4317');
    expect(pipeline.service.pipelines.traces.receivers).toEqual(['otlp']);
    expect(collector.readinessProbe.httpGet.port).toBe(pipeline.extensions.health_check.endpoint.split(':')[1] * 1);
    const memoryLimit = bytes(collector.resources.limits.memory) / 2 ** 20;
    expect(pipeline.processors.memory_limiter.limit_mib, 'the limiter refuses data before the container is killed').toBeLessThan(
      memoryLimit,
    );

    const jaeger = find(objects, 'Deployment', 'jaeger');
    const [container] = jaeger.spec.template.spec.containers;
    expect(container.image).toMatch(/^jaegertracing\/all-in-one:\d+\.\d+\.\d+$/);
    expect(Object.fromEntries(container.env.map((e: K8sObject) => [e.name, e.value]))).toMatchObject({
      SPAN_STORAGE_TYPE: 'memory',
      COLLECTOR_OTLP_ENABLED: 'true',
    });
    expect(Number(container.env.find((e: K8sObject) => e.name === 'MEMORY_MAX_TRACES').value)).toBeGreaterThan(0);
    expect(jaeger.spec.strategy.type, 'one in-memory store at a time').toBe('Recreate');
    expect(find(objects, 'Service', 'jaeger').spec.ports.map((p: K8sObject) => p.port)).toEqual([4317, 16686]);
    for (const c of [collector, container]) {
      expect(c.readinessProbe, c.name).not.toEqual(c.livenessProbe);
      const ports = c.ports.map((p: K8sObject) => p.containerPort);
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        expect(ports, `${c.name} probes a port it declares`).toContain((probe.httpGet ?? probe.tcpSocket).port);
      }
    }

    const datasources = JSON.parse(find(objects, 'ConfigMap', 'grafana-provisioning').data['datasources.yaml']).datasources;
    expect(datasources.find((d: K8sObject) => d.type === 'jaeger')).toMatchObject({ uid: 'jaeger', url: 'http://jaeger:16686' });
  });

  it('when metrics-server is installed, then it runs with --kubelet-insecure-tls for kind and serves metrics.k8s.io', () => {
    const deployment = find(objects, 'Deployment', 'metrics-server');
    expect(deployment.metadata.namespace).toBe('kube-system');
    expect(deployment.spec.template.spec.containers[0].args).toContain('--kubelet-insecure-tls');
    expect(find(objects, 'APIService', 'v1beta1.metrics.k8s.io').spec.service).toEqual({
      name: 'metrics-server',
      namespace: 'kube-system',
    });
  });
});

describe('the load generator', () => {
  it('when applied, then it is a bounded Job aimed at the gateway', () => {
    const job = find(tools, 'Job', 'load-generator');
    const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: K8sObject) => [e.name, e.value]));
    expect(env.TARGET_URL).toBe('http://gateway:8080/health/live');
    expect(Number(env.DURATION_SECONDS)).toBeGreaterThan(0);
    expect(Number(env.MAX_REQUESTS)).toBeGreaterThan(0);
    expect(job.spec.activeDeadlineSeconds).toBeGreaterThan(Number(env.DURATION_SECONDS));
    expect(job.spec.backoffLimit).toBe(0);
  });
});
