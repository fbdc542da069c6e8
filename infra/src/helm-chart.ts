import fs from 'node:fs';
import path from 'node:path';
import { ApiObject, App } from 'cdk8s';
import { Document, isMap, isScalar, stringify, type YAMLMap } from 'yaml';
import { hashOf } from './http-service.js';
import { PART_OF } from './labels.js';
import { PLACEHOLDER_ANNOTATION } from './local-secrets.js';
import { buildPlatform, NAMESPACE, PORTS, type PlatformProps } from './platform.js';
import { SIZES, type SizeName } from './sizes.js';

/**
 * The Helm chart `charts/taskmesh`, generated from the same cdk8s app as `k8s/`.
 *
 * Both sizes are synthesized in memory. Each object becomes a template: the values users change
 * (image, replicas, resources, the public Services, the endpoints of MongoDB, Kafka, Redis and the
 * trace collector) are replaced by `.Values` expressions whose defaults are what was synthesized,
 * objects of a bundled component are wrapped in its `enabled` switch, and an object that differs
 * between the sizes is written twice, under `profile: ha` and otherwise. So `helm template` with
 * the default values renders exactly `k8s/laptop`, with `profile=ha` exactly `k8s/ha`; the infra
 * tests check both object by object, and that the committed chart equals a fresh generation.
 */

/** Where `npm run synth` writes the chart. */
export const DEFAULT_CHART_DIR = path.resolve(import.meta.dirname, '..', '..', 'charts', 'taskmesh');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The HTTP services, named as in `.Values` and as their Deployments. */
const SERVICES = Object.keys(PORTS) as (keyof typeof PORTS)[];

/** A bundled part of the stack that `<name>.enabled: false` leaves out. */
type Component = 'namespace' | 'mongodb' | 'kafka' | 'redis' | 'monitoring' | 'metricsServer';

/** Objects of a component, by the construct path cdk8s gave them (chart id / construct id). */
const COMPONENT_PATHS: readonly (readonly [string, Component])[] = [
  ['00-namespace/', 'namespace'],
  ['20-data/mongo/', 'mongodb'],
  ['20-data/kafka/', 'kafka'],
  ['20-data/redis/', 'redis'],
  ['40-monitoring/', 'monitoring'],
  ['50-metrics-server/', 'metricsServer'],
];

const ENABLED: Record<Component, string> = {
  namespace: '$.Values.namespace.create',
  mongodb: '$.Values.mongodb.enabled',
  kafka: '$.Values.kafka.enabled',
  redis: '$.Values.redis.enabled',
  monitoring: '$.Values.monitoring.enabled',
  metricsServer: '$.Values.metricsServer.enabled',
};

/**
 * Service configuration that points at a bundled component. With the component disabled, the
 * value comes from `<component>.external.<field>`, or from the Secret `external.existingSecret`.
 */
interface Endpoint {
  readonly key: string;
  readonly component: Component;
  readonly field: string;
  /** Whether a disabled component must be replaced (tracing may simply be off). */
  readonly required: boolean;
  readonly description: string;
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    key: 'MONGODB_URI',
    component: 'mongodb',
    field: 'uri',
    required: true,
    description: 'MongoDB connection string (mongodb:// or mongodb+srv://)',
  },
  {
    key: 'KAFKA_BROKERS',
    component: 'kafka',
    field: 'brokers',
    required: true,
    description: 'Kafka bootstrap servers, host:port[,host:port]',
  },
  { key: 'REDIS_URL', component: 'redis', field: 'url', required: true, description: 'Redis URL (redis:// or rediss://)' },
  {
    key: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    component: 'monitoring',
    field: 'otlpEndpoint',
    required: false,
    description: 'OTLP/HTTP endpoint for traces; empty turns tracing off',
  },
];

/** The NodePort Services, and where their values live. */
const PUBLIC_SERVICES: Readonly<Record<string, string>> = {
  gateway: '$.Values.gateway.service',
  grafana: '$.Values.monitoring.grafana.service',
};

const q = (s: string) => JSON.stringify(s);
const keyOf = (o: Json) => `${o.apiVersion}|${o.kind}|${o.metadata?.namespace ?? ''}|${o.metadata?.name}`;

interface Synthesized {
  /** The cdk8s chart, i.e. the file in `k8s/<size>/` and the template. */
  readonly file: string;
  readonly path: string;
  readonly object: Json;
}

function synthesize(size: SizeName, props: Omit<PlatformProps, 'size'>): Synthesized[] {
  const app = new App();
  buildPlatform(app, { size: SIZES[size], ...props });
  const out: Synthesized[] = [];
  for (const chart of app.charts) {
    const paths = new Map<string, string>();
    for (const c of chart.node.findAll()) if (ApiObject.isApiObject(c)) paths.set(keyOf(c.toJson()), `${c.node.path}/`);
    for (const object of chart.toJson()) {
      const p = paths.get(keyOf(object));
      if (!p) throw new Error(`no construct for ${keyOf(object)}`);
      out.push({ file: chart.node.id, path: p, object });
    }
  }
  return out;
}

/** Which switch an object hangs on; undefined for the core (services, policies, namespace-wide rules). */
function componentOf(item: Synthesized, all: readonly Synthesized[]): Component | undefined {
  const byPath = COMPONENT_PATHS.find(([prefix]) => item.path.startsWith(prefix))?.[1];
  if (byPath) return byPath;
  if (item.file === '20-data') throw new Error(`${keyOf(item.object)} is data but belongs to no component of the chart`);
  if (item.object.kind !== 'NetworkPolicy') return undefined;
  // A workload's own policy goes with the workload: find whose pods it selects.
  const selector: Record<string, string> = item.object.spec.podSelector?.matchLabels ?? {};
  if (Object.keys(selector).length === 0) return undefined;
  const owners = new Set<Component | undefined>();
  for (const other of all) {
    const labels = other.object.spec?.template?.metadata?.labels;
    if (labels && Object.entries(selector).every(([k, v]) => labels[k] === v)) owners.add(componentOf(other, all));
  }
  if (owners.size !== 1) throw new Error(`NetworkPolicy ${item.object.metadata.name} selects pods of ${owners.size} components`);
  return [...owners][0];
}

/** Placeholders in the YAML that become template text once the object is written. */
class Tokens {
  private readonly values = new Map<string, (column: number) => string>();
  private readonly lines = new Map<string, (indent: string) => string[]>();

  /** A scalar written as template text; `column` is where its key starts. */
  value(text: string | ((column: number) => string)): string {
    const token = `__tm${this.values.size + this.lines.size}__`;
    this.values.set(token, typeof text === 'string' ? () => text : text);
    return token;
  }

  /** A whole line (a map key or a list item) written as template lines at its indentation. */
  line(render: (indent: string) => string[]): string {
    const token = `__tm${this.values.size + this.lines.size}__`;
    this.lines.set(token, render);
    return token;
  }

  write(object: Json): string {
    // YAML 1.1 quoting, as Kubernetes reads YAML 1.1 (a plain `no` is false there). Text that
    // looks like a template action (Grafana legends, alert annotations) stays text.
    const text = stringify(object, { version: '1.1', lineWidth: 0 }).replaceAll('{{', '{{ "{{" }}');
    const used = new Set<string>();
    const out = text.split('\n').flatMap((line) => {
      const token = /__tm\d+__/.exec(line)?.[0];
      if (!token) return [line];
      used.add(token);
      const indent = /^\s*/.exec(line)![0];
      const render = this.lines.get(token);
      if (render) {
        if (!new RegExp(`^\\s*(- )?${token}(: null)?$`).test(line)) throw new Error(`token ${token} shares its line: ${line}`);
        if (line.trimStart().startsWith(`- ${token}:`)) throw new Error(`token ${token} opens a list item`);
        return render(indent).map((l) => `${indent}${l}`);
      }
      const column = (/^(\s*(?:- )*)/.exec(line)?.[1] ?? '').length;
      return [line.replace(token, this.values.get(token)!(column))];
    });
    if (used.size !== this.values.size + this.lines.size) throw new Error('a template token was lost in the YAML');
    return out.join('\n');
  }
}

/** Defaults collected while templating, checked to agree between the sizes where they must. */
interface Defaults {
  imageTag?: string;
  pullPolicy?: string;
  resources: Record<string, Json>;
  replicas: Record<string, Partial<Record<SizeName, { min: number; max: number }>>>;
  publicServices: Record<string, { type: string; nodePort: number }>;
  endpoints: Map<Endpoint, { bundled: string; clients: Set<string> }>;
  scrapePorts: Record<string, number>;
}

function agree<T>(what: string, previous: T | undefined, value: T): T {
  if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(value)) {
    throw new Error(
      `${what} differs between objects or sizes (${JSON.stringify(previous)} vs ${JSON.stringify(value)}); the chart has one default`,
    );
  }
  return value;
}

/** `(dict "K" "v" ...)` of a ConfigMap's data, with templated entries as expressions. */
function dictOf(data: Record<string, string>, expressions: Map<string, string>): string {
  const entries = Object.keys(data).map((k) => `${q(k)} ${expressions.has(k) ? `(${expressions.get(k)})` : q(data[k] ?? '')}`);
  return `(dict ${entries.join(' ')})`;
}

function endpointExpression(e: Endpoint, bundled: string): string {
  return `include "taskmesh.endpoint" (list $ ${q(e.component)} ${q(e.field)} ${q(bundled)} ${e.required})`;
}

/** Replaces the user-facing values of one object (a copy) by template expressions. */
function templateObject(original: Json, size: SizeName, synthesized: Record<SizeName, Synthesized[]>, defaults: Defaults, t: Tokens): Json {
  const all = synthesized[size];
  const o = structuredClone(original);
  const name: string = o.metadata?.name;
  const service = SERVICES.find((s) => s === name || `${s}-config` === name);

  if (o.kind === 'ConfigMap' && service && name === `${service}-config`) {
    for (const e of ENDPOINTS) {
      if (!(e.key in o.data)) continue;
      const seen = defaults.endpoints.get(e);
      defaults.endpoints.set(e, {
        bundled: agree(`${e.key}`, seen?.bundled, o.data[e.key]),
        clients: (seen?.clients ?? new Set()).add(service),
      });
      o.data[e.key] = t.value(`{{ ${endpointExpression(e, o.data[e.key])} | quote }}`);
    }
  }

  if (o.kind === 'Deployment' && service === name) {
    const pod = o.spec.template;
    const container = pod.spec.containers[0];
    const [repository = '', tag = ''] = String(container.image).split(':');
    defaults.imageTag = agree('image tag', defaults.imageTag, tag);
    container.image = t.value(`{{ include "taskmesh.image" (list $ ${q(repository)}) | quote }}`);
    defaults.pullPolicy = agree('imagePullPolicy', defaults.pullPolicy, container.imagePullPolicy);
    container.imagePullPolicy = t.value('{{ $.Values.image.pullPolicy | quote }}');
    defaults.resources[name] = agree(`${name} resources`, defaults.resources[name], container.resources);
    container.resources = t.value((column) => `{{- toYaml $.Values.${name}.resources | nindent ${column + 2} }}`);
    defaults.scrapePorts[name] = agree(`${name} port`, defaults.scrapePorts[name], Number(pod.metadata.annotations['prometheus.io/port']));

    const config = all.find((s) => s.object.kind === 'ConfigMap' && s.object.metadata.name === `${name}-config`)?.object.data;
    if (!config) throw new Error(`no ConfigMap ${name}-config`);
    const endpoints = ENDPOINTS.filter((e) => e.key in config);
    if (endpoints.length > 0) {
      // The pods roll when their configuration changes: the hash follows the rendered values.
      if (pod.metadata.annotations['taskmesh.dev/config-hash'] !== hashOf(config)) {
        throw new Error(`${name}: taskmesh.dev/config-hash is not hashOf(its ConfigMap); update the chart generator`);
      }
      const expressions = new Map(endpoints.map((e) => [e.key, endpointExpression(e, config[e.key])]));
      pod.metadata.annotations['taskmesh.dev/config-hash'] = t.value(
        `{{ include "taskmesh.configHash" ${dictOf(config, expressions)} | quote }}`,
      );
      const secretEnv = `include "taskmesh.secretEnv" (list $ ${endpoints.map((e) => `(list ${q(e.key)} ${q(e.component)})`).join(' ')})`;
      if (container.env) {
        container.env.push(t.line((indent) => [`{{- ${secretEnv} | nindent ${indent.length} }}`]));
      } else {
        container[t.line((indent) => [`{{- with ${secretEnv} }}`, `env: {{- . | nindent ${indent.length + 2} }}`, '{{- end }}'])] = null;
      }
    }
  }

  if (o.kind === 'HorizontalPodAutoscaler' && service === name) {
    // Both profiles' bounds in one expression, so that the HPA is one template for both.
    const bounds = (s: SizeName) => {
      const hpa = synthesized[s].find((x) => keyOf(x.object) === keyOf(o))?.object.spec;
      if (!hpa) throw new Error(`no HPA ${name} in the ${s} profile`);
      return { min: hpa.minReplicas as number, max: hpa.maxReplicas as number };
    };
    const laptop = bounds('laptop');
    const ha = bounds('ha');
    defaults.replicas[name] = { laptop, ha };
    const byProfile = (a: number, b: number) => (a === b ? String(a) : `(ternary ${b} ${a} (eq $.Values.profile "ha"))`);
    o.spec.minReplicas = t.value(`{{ $.Values.${name}.autoscaling.minReplicas | default ${byProfile(laptop.min, ha.min)} }}`);
    o.spec.maxReplicas = t.value(`{{ $.Values.${name}.autoscaling.maxReplicas | default ${byProfile(laptop.max, ha.max)} }}`);
  }

  if (o.kind === 'Service' && o.spec.type === 'NodePort') {
    const values = PUBLIC_SERVICES[name];
    if (!values || o.spec.ports.length !== 1) throw new Error(`NodePort Service ${name} has no values in the chart`);
    const port = o.spec.ports[0];
    defaults.publicServices[name] = agree(`${name} Service`, defaults.publicServices[name], { type: o.spec.type, nodePort: port.nodePort });
    o.spec.type = t.value(`{{ ${values}.type | quote }}`);
    delete port.nodePort;
    port[
      t.line(() => [
        `{{- if and (has ${values}.type (list "NodePort" "LoadBalancer")) ${values}.nodePort }}`,
        `nodePort: {{ ${values}.nodePort }}`,
        '{{- end }}',
      ])
    ] = null;
  }
  return o;
}

/** NetworkPolicies that exist only with a component replaced by an external one. */
function externalAccessObjects(defaults: Defaults): { condition: string; text: string }[] {
  const out: { condition: string; text: string }[] = [];
  const metadata = (name: string) => ({ labels: { 'app.kubernetes.io/part-of': PART_OF }, name, namespace: NAMESPACE });
  const among = (names: Iterable<string>) => ({
    matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: [...names].sort() }],
  });
  for (const [e, { clients }] of defaults.endpoints) {
    const v = `$.Values.${e.component}`;
    const t = new Tokens();
    out.push({
      condition: `and (not ${v}.enabled) (or ${v}.external.${e.field} ${v}.external.existingSecret) ${v}.external.egress`,
      text: t.write({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: metadata(`allow-external-${e.component}`),
        spec: {
          podSelector: among(clients),
          policyTypes: ['Egress'],
          egress: t.value((column) => `{{- toYaml ${v}.external.egress | nindent ${column + 2} }}`),
        },
      }),
    });
  }
  const t = new Tokens();
  out.push({
    condition: 'and (not $.Values.monitoring.enabled) $.Values.monitoring.external.scrapeFrom',
    text: t.write({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: metadata('allow-external-scrape'),
      spec: {
        podSelector: among(Object.keys(defaults.scrapePorts)),
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: t.value((column) => `{{- toYaml $.Values.monitoring.external.scrapeFrom | nindent ${column + 2} }}`),
            ports: [...new Set(Object.values(defaults.scrapePorts))].sort().map((port) => ({ port, protocol: 'TCP' })),
          },
        ],
      },
    }),
  });
  return out;
}

const HELPERS = `{{/* Generated by npm run synth (infra/src/helm-chart.ts). Do not edit. */}}

{{/* An image of ours: [registry/]repository:tag. Arguments: root, repository. */}}
{{- define "taskmesh.image" -}}
{{- $root := index . 0 -}}
{{- with $root.Values.image.registry }}{{ trimSuffix "/" . }}/{{ end }}{{ index . 1 }}:{{ $root.Values.image.tag }}
{{- end }}

{{/*
Where a service finds a component: the bundled one, or the external one of the values.
Arguments: root, component, field of .external, the bundled address, whether one is required.
*/}}
{{- define "taskmesh.endpoint" -}}
{{- $root := index . 0 -}}{{- $name := index . 1 -}}{{- $field := index . 2 -}}
{{- $v := index $root.Values $name -}}
{{- if $v.enabled -}}
{{- index . 3 -}}
{{- else if or (index $v.external $field) $v.external.existingSecret (not (index . 4)) -}}
{{- index $v.external $field | default "" -}}
{{- else -}}
{{- fail (printf "%s.enabled is false: name the external one with %s.external.%s, or a Secret holding it with %s.external.existingSecret" $name $name $field $name) -}}
{{- end -}}
{{- end }}

{{/*
env entries taking an external component's address from its Secret; they win over the ConfigMap.
Arguments: root, then (list VARIABLE component) for each address the service reads.
*/}}
{{- define "taskmesh.secretEnv" -}}
{{- $root := index . 0 -}}
{{- range $pair := rest . }}
{{- $v := index $root.Values (index $pair 1) }}
{{- if and (not $v.enabled) $v.external.existingSecret }}
- name: {{ index $pair 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.external.existingSecret | quote }}
      key: {{ $v.external.secretKey | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The taskmesh.dev/config-hash of a ConfigMap's data, as infra/src/http-service.ts computes it:
sha256 of the JSON of the sorted [key, value] pairs, 16 hex digits. Go's JSON escapes <, > and &,
JavaScript's does not: undo that.
*/}}
{{- define "taskmesh.configHash" -}}
{{- $pairs := list -}}
{{- range $k := keys . | sortAlpha }}{{ $pairs = append $pairs (list $k (get $ $k)) }}{{ end -}}
{{- toJson $pairs | replace "\\\\u003c" "<" | replace "\\\\u003e" ">" | replace "\\\\u0026" "&" | sha256sum | trunc 16 -}}
{{- end }}
`;

const NOTES = `taskmesh {{ .Chart.AppVersion }}, profile {{ .Values.profile }}, in the namespace ${NAMESPACE}.

The first start takes a few minutes while MongoDB and Kafka come up:
  kubectl -n ${NAMESPACE} get pods,hpa
{{- if .Values.mongodb.enabled }}
  kubectl -n ${NAMESPACE} logs job/mongo-init      # ends with "sharded cluster ready"
{{- end }}

The gateway:
{{- if and (eq .Values.gateway.service.type "NodePort") .Values.gateway.service.nodePort }}
  node port {{ .Values.gateway.service.nodePort }} (http://localhost:{{ .Values.gateway.service.nodePort }} on kind with k8s/kind-cluster.yaml)
{{- end }}
  kubectl -n ${NAMESPACE} port-forward svc/gateway ${PORTS.gateway}   # then http://localhost:${PORTS.gateway}
{{- if .Values.placeholderSecrets.create }}

The Secrets hold public local placeholders (annotation taskmesh.dev/placeholder): fine for kind,
never for real data. Set placeholderSecrets.create=false and create them yourself elsewhere.
{{- end }}
`;

/** values.yaml, its comments and values.schema.json. */
function valuesFiles(defaults: Defaults, props: { tag: string }): { yaml: string; schema: Json } {
  const replicaRange = (name: string) => {
    const r = defaults.replicas[name] ?? {};
    return (Object.keys(SIZES) as SizeName[]).map((s) => `${s} ${r[s]?.min}-${r[s]?.max}`).join(', ');
  };
  const endpoint = (component: Component) => [...defaults.endpoints].find(([e]) => e.component === component)!;
  const externalValues = (component: Component) => {
    const [e, { bundled }] = endpoint(component);
    const port = Number(/:(\d+)(\/.*)?$/.exec(bundled)?.[1]);
    if (!port) throw new Error(`no port in the bundled ${e.key} ${bundled}`);
    return { [e.field]: '', existingSecret: '', secretKey: e.field, egress: [{ ports: [{ port, protocol: 'TCP' }] }] };
  };
  const values: Json = {
    profile: 'laptop',
    image: { registry: '', tag: props.tag, pullPolicy: defaults.pullPolicy },
  };
  for (const name of SERVICES) {
    values[name] = {
      autoscaling: { minReplicas: null, maxReplicas: null },
      resources: defaults.resources[name],
      ...(defaults.publicServices[name] ? { service: defaults.publicServices[name] } : {}),
    };
  }
  values.mongodb = { enabled: true, external: externalValues('mongodb') };
  values.kafka = { enabled: true, external: externalValues('kafka') };
  values.redis = { enabled: true, external: externalValues('redis') };
  values.monitoring = {
    enabled: true,
    grafana: { service: defaults.publicServices.grafana },
    external: { ...externalValues('monitoring'), scrapeFrom: [] },
  };
  values.metricsServer = { enabled: true };
  values.namespace = { create: true };
  values.placeholderSecrets = { create: true };

  const comments: Record<string, string> = {
    profile: 'laptop: one member per MongoDB replica set, one Kafka node, 1Gi volumes; ha: three of each, 5Gi volumes, more replicas.',
    image: 'The four images of this repository: [registry/]taskmesh/<service>:tag.',
    'image.registry': 'e.g. ghcr.io/<owner> for the images CD publishes; empty for images loaded into kind.',
    'image.tag': 'Skaffold and CD build tags; the chart default is the app version.',
    'mongodb.enabled': 'false: use an external MongoDB instead of the bundled sharded cluster (its collections are not sharded for you).',
    'mongodb.external.existingSecret':
      'A Secret in the namespace holding the address under secretKey (for addresses with credentials); it wins over the plain value.',
    'mongodb.external.egress': 'NetworkPolicy egress rules of the clients to the external server (default deny is in force).',
    'kafka.enabled': 'false: use an external Kafka (topics are created by the services; auto-creation may stay off).',
    'redis.enabled': 'false: use an external Redis for the gateway rate limits and the auth and analytics caches.',
    'monitoring.enabled': 'false: no Prometheus, Grafana, OpenTelemetry Collector or Jaeger; pods keep their prometheus.io annotations.',
    'monitoring.external.scrapeFrom': 'NetworkPolicy peers (from:) allowed to scrape /metrics when monitoring is disabled.',
    'metricsServer.enabled': 'false on clusters that already run metrics-server (the HPAs need one).',
    'namespace.create': `Create the namespace ${NAMESPACE} (Pod Security "restricted"); every object lives in it.`,
    'placeholderSecrets.create':
      'The Secrets auth-signing-keys, task-secrets and grafana-admin with public local placeholders: false anywhere but a laptop, and create them yourself.',
  };
  for (const name of SERVICES) {
    comments[`${name}.autoscaling`] = `HPA bounds; null: the profile's (${replicaRange(name)}).`;
    if (defaults.publicServices[name])
      comments[`${name}.service`] = 'The public entry: ClusterIP, NodePort or LoadBalancer; nodePort is used by the latter two.';
  }
  for (const [e] of defaults.endpoints) comments[`${e.component}.external.${e.field}`] = e.description;

  const doc = new Document(values, { version: '1.1' });
  const annotate = (node: unknown, prefix: string) => {
    if (!isMap(node)) return;
    for (const pair of (node as YAMLMap).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const p = prefix ? `${prefix}.${key}` : key;
      if (comments[p] && isScalar(pair.key)) pair.key.commentBefore = ` ${comments[p]}`;
      annotate(pair.value, p);
    }
  };
  annotate(doc.contents, '');
  doc.commentBefore =
    ' Generated by npm run synth (infra/src/helm-chart.ts) from the cdk8s app. Do not edit.\n Defaults render the objects of k8s/laptop; profile: ha those of k8s/ha.';

  const str = { type: 'string' };
  const replicas = { type: ['integer', 'null'], minimum: 1 };
  const object = (properties: Json, required = Object.keys(properties)) => ({
    type: 'object',
    additionalProperties: false,
    required,
    properties,
  });
  const resources = {
    type: 'object',
    additionalProperties: false,
    properties: { requests: { type: 'object' }, limits: { type: 'object' }, claims: { type: 'array' } },
  };
  const publicService = object(
    {
      type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
      nodePort: { type: ['integer', 'null'], minimum: 30000, maximum: 32767 },
    },
    ['type'],
  );
  const external = (component: Component, extra: Json = {}) => {
    const [e] = endpoint(component);
    return object({
      [e.field]: str,
      existingSecret: str,
      secretKey: { type: 'string', minLength: 1 },
      egress: { type: 'array', items: { type: 'object' } },
      ...extra,
    });
  };
  const schemaProps: Json = {
    global: { type: 'object' },
    profile: { enum: Object.keys(SIZES) },
    image: object({ registry: str, tag: { type: 'string', minLength: 1 }, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } }),
  };
  for (const name of SERVICES) {
    schemaProps[name] = object({
      autoscaling: object({ minReplicas: replicas, maxReplicas: replicas }, []),
      resources,
      ...(defaults.publicServices[name] ? { service: publicService } : {}),
    });
  }
  const enabled = { type: 'boolean' };
  schemaProps.mongodb = object({ enabled, external: external('mongodb') });
  schemaProps.kafka = object({ enabled, external: external('kafka') });
  schemaProps.redis = object({ enabled, external: external('redis') });
  schemaProps.monitoring = object({
    enabled,
    grafana: object({ service: publicService }),
    external: external('monitoring', { scrapeFrom: { type: 'array', items: { type: 'object' } } }),
  });
  schemaProps.metricsServer = object({ enabled });
  schemaProps.namespace = object({ create: enabled });
  schemaProps.placeholderSecrets = object({ create: enabled });
  const schema = {
    $schema: 'https://json-schema.org/draft-07/schema#',
    title: 'taskmesh chart values',
    ...object(
      schemaProps,
      Object.keys(schemaProps).filter((k) => k !== 'global'),
    ),
  };
  return { yaml: doc.toString({ lineWidth: 0 }), schema };
}

/** The chart's files, relative path → content. Deterministic. */
export function chartFiles(props: Omit<PlatformProps, 'size'>): Map<string, string> {
  // The default profile, and the one `profile` switches to.
  const base: SizeName = 'laptop';
  const other: SizeName = 'ha';
  if (Object.keys(SIZES).sort().join() !== [base, other].sort().join()) throw new Error('the chart knows the profiles laptop and ha only');
  const synthesized: Record<SizeName, Synthesized[]> = { laptop: synthesize('laptop', props), ha: synthesize('ha', props) };
  const defaults: Defaults = { resources: {}, replicas: {}, publicServices: {}, endpoints: new Map(), scrapePorts: {} };
  const render = (item: Synthesized, size: SizeName) => {
    const t = new Tokens();
    return t.write(templateObject(item.object, size, synthesized, defaults, t));
  };

  const files = new Map<string, string>();
  const header = '{{- /* Generated by npm run synth (infra/src/helm-chart.ts) from the cdk8s app. Do not edit. */}}\n';
  const wrap = (condition: string | undefined, body: string) => (condition ? `{{- if ${condition} }}\n${body}{{- end }}\n` : body);
  const doc = (text: string) => `---\n${text.endsWith('\n') ? text : `${text}\n`}`;
  // Neighbours hanging on the same switch share one `if`.
  const templates = new Map<string, { condition: string | undefined; body: string }[]>();
  const append = (file: string, condition: string | undefined, body: string) => {
    const parts = templates.get(file) ?? [];
    const last = parts.at(-1);
    if (last && last.condition === condition) last.body += body;
    else parts.push({ condition, body });
    templates.set(file, parts);
  };

  const otherByKey = new Map(synthesized[other].map((s) => [keyOf(s.object), s]));
  const baseKeys = new Set(synthesized[base].map((s) => keyOf(s.object)));
  const profileIs = (size: SizeName) => `eq $.Values.profile ${q(size)}`;
  const conditionOf = (item: Synthesized, size: SizeName) => {
    const conditions: string[] = [];
    const component = componentOf(item, synthesized[size]);
    if (component) conditions.push(ENABLED[component]);
    const annotations = item.object.metadata?.annotations ?? {};
    if (Object.entries(PLACEHOLDER_ANNOTATION).every(([k, v]) => annotations[k] === v))
      conditions.push('$.Values.placeholderSecrets.create');
    return conditions.length === 0
      ? undefined
      : conditions.length === 1
        ? conditions[0]
        : `and ${conditions.map((c) => `(${c})`).join(' ')}`;
  };

  for (const item of synthesized[base]) {
    const twin = otherByKey.get(keyOf(item.object));
    const condition = conditionOf(item, base);
    const text = render(item, base);
    if (twin && conditionOf(twin, other) !== condition) throw new Error(`${keyOf(item.object)} hangs on different switches per profile`);
    if (twin && twin.file !== item.file) throw new Error(`${keyOf(item.object)} is in different files per profile`);
    const twinText = twin ? render(twin, other) : undefined;
    if (twinText === text) {
      append(item.file, condition, doc(text));
    } else {
      const branches =
        twinText === undefined
          ? `{{- if not (${profileIs(other)}) }}\n${doc(text)}{{- end }}\n`
          : `{{- if ${profileIs(other)} }}\n${doc(twinText)}{{- else }}\n${doc(text)}{{- end }}\n`;
      append(item.file, condition, branches);
    }
  }
  for (const item of synthesized[other]) {
    if (baseKeys.has(keyOf(item.object))) continue;
    append(item.file, conditionOf(item, other), `{{- if ${profileIs(other)} }}\n${doc(render(item, other))}{{- end }}\n`);
  }
  for (const [file, parts] of templates) {
    files.set(`templates/${file}.yaml`, header + parts.map(({ condition, body }) => wrap(condition, body)).join(''));
  }

  files.set(
    'templates/60-external-access.yaml',
    header +
      externalAccessObjects(defaults)
        .map(({ condition, text }) => wrap(condition, doc(text)))
        .join(''),
  );
  files.set('templates/_helpers.tpl', HELPERS);
  files.set('templates/NOTES.txt', NOTES);

  const tag = defaults.imageTag;
  if (!tag) throw new Error('no image tag found in the synthesized services');
  const { yaml, schema } = valuesFiles(defaults, { tag });
  files.set('values.yaml', yaml);
  files.set('values.schema.json', `${JSON.stringify(schema, null, 2)}\n`);
  files.set(
    'Chart.yaml',
    stringify(
      {
        apiVersion: 'v2',
        name: 'taskmesh',
        description:
          'Task platform on Kubernetes: gateway, auth, task and analytics services over Kafka, sharded MongoDB and Redis, with Prometheus, Grafana and tracing',
        type: 'application',
        version: tag,
        appVersion: tag,
        kubeVersion: '>=1.33.0-0',
        keywords: ['fastify', 'kafka', 'mongodb', 'microservices'],
      },
      { version: '1.1' },
    ).replace(/^/, '# Generated by npm run synth (infra/src/helm-chart.ts). Do not edit.\n'),
  );
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/** Writes the chart from scratch into `dir` (stale templates would otherwise survive). */
export function writeChart(props: Omit<PlatformProps, 'size'>, dir: string = DEFAULT_CHART_DIR): string {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const [file, text] of chartFiles(props)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  return dir;
}
