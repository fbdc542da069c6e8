import { Duration, Size as DataSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { jaegerDataSource, otelCollectorConfig, type GrafanaDataSource } from '@taskmesh/dashboards';
import { hashOf, limitEphemeralStorage, selectPods } from './http-service.js';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import type { MonitoringContext, MonitoringExtension } from './monitoring.js';
import { restrictedContainerSecurityProps, restrictedPodSecurityProps } from './security.js';
import { pdb } from './workload-defaults.js';

const COLLECTOR = 'otel-collector';
const JAEGER = 'jaeger';
const OTLP_GRPC_PORT = 4317;
const OTLP_HTTP_PORT = 4318;
const COLLECTOR_HEALTH_PORT = 13133;
const JAEGER_QUERY_PORT = 16686;
const JAEGER_ADMIN_PORT = 14269;

export interface TracingProps {
  /** @default 'otel/opentelemetry-collector:0.111.0' */
  readonly collectorImage?: string;
  /** @default 'jaegertracing/all-in-one:1.62.0' */
  readonly jaegerImage?: string;
  /**
   * Traces Jaeger keeps in memory; the oldest go first. Bounds its memory: a request through the
   * platform is a trace of some 20 to 40 spans.
   * @default 5000
   */
  readonly maxTraces?: number;
}

/**
 * Where the services send spans (OTLP over HTTP), what Grafana reads them from, and the
 * monitoring extension that runs the two: an OpenTelemetry Collector that batches and forwards,
 * and Jaeger all-in-one that stores them in memory and answers queries. The services never talk
 * to Jaeger directly, so the back end can be replaced (Tempo, a vendor) by changing the
 * collector's configuration alone.
 */
export class Tracing {
  /** The collector's OTLP/HTTP endpoint: the services' OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly collectorUrl = `http://${COLLECTOR}:${OTLP_HTTP_PORT}`;
  /** Jaeger's query service (UI and API). */
  readonly jaegerQueryUrl = `http://${JAEGER}:${JAEGER_QUERY_PORT}`;

  constructor(private readonly props: TracingProps = {}) {}

  /** The standard OTEL_* variables every service gets, next to its own OTEL_SERVICE_NAME. */
  serviceEnv(): Record<string, string> {
    return { OTEL_EXPORTER_OTLP_ENDPOINT: this.collectorUrl };
  }

  /** Grafana's Jaeger data source, with the uid the dashboards use. */
  grafanaDatasources(): GrafanaDataSource[] {
    return [jaegerDataSource(this.jaegerQueryUrl)];
  }

  /** Adds the collector and Jaeger to the monitoring stack, with their traffic rules. */
  extension(): MonitoringExtension {
    return (scope, context) => {
      const collector = new OtelCollector(scope, 'otel-collector', {
        namespace: context.namespace,
        image: this.props.collectorImage ?? 'otel/opentelemetry-collector:0.111.0',
        tracesEndpoint: `${JAEGER}:${OTLP_GRPC_PORT}`,
      });
      const jaeger = new Jaeger(scope, 'jaeger', {
        namespace: context.namespace,
        image: this.props.jaegerImage ?? 'jaegertracing/all-in-one:1.62.0',
        maxTraces: this.props.maxTraces ?? 5000,
      });
      wire(context, collector, jaeger);
    };
  }
}

function wire({ network, services, grafana }: MonitoringContext, collector: Peer, jaeger: Peer): void {
  for (const service of services) network.allow(service, collector, OTLP_HTTP_PORT);
  network.allow(collector, jaeger, OTLP_GRPC_PORT);
  network.allow(grafana, jaeger, JAEGER_QUERY_PORT);
}

interface WorkloadProps {
  readonly namespace: string;
  readonly image: string;
}

/** A one-replica monitoring Deployment with its Service account, Service and PDB. */
function monitoringWorkload(
  scope: Construct,
  name: string,
  props: WorkloadProps & {
    readonly configHash?: string;
    readonly strategy?: kplus.DeploymentStrategy;
    readonly container: Omit<kplus.ContainerProps, 'name' | 'image' | 'imagePullPolicy' | 'securityContext'>;
    readonly servicePorts: readonly { name: string; port: number }[];
    readonly ephemeral: { request: string; limit: string };
  },
): kplus.Deployment {
  const { namespace } = props;
  const labels = workloadLabels(name, 'monitoring');
  const selector = selectorLabels(name);
  const serviceAccount = new kplus.ServiceAccount(scope, `${name}-sa`, {
    metadata: { name, namespace, labels },
    automountToken: false,
  });
  const deployment = new kplus.Deployment(scope, name, {
    metadata: { name, namespace, labels },
    replicas: 1,
    select: false,
    podMetadata: { labels, ...(props.configHash ? { annotations: { 'taskmesh.dev/config-hash': props.configHash } } : {}) },
    serviceAccount,
    automountServiceAccountToken: false,
    securityContext: restrictedPodSecurityProps,
    ...(props.strategy ? { strategy: props.strategy } : {}),
    containers: [
      {
        ...props.container,
        name,
        image: props.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        securityContext: restrictedContainerSecurityProps,
      },
    ],
  });
  deployment.select(kplus.LabelSelector.of({ labels: { ...selector } }));
  limitEphemeralStorage(deployment, props.ephemeral.request, props.ephemeral.limit);
  const service = new kplus.Service(scope, `${name}-service`, {
    metadata: { name, namespace, labels },
    ports: props.servicePorts.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
  });
  selectPods(service, selector);
  pdb(scope, name, namespace, labels, { ...selector });
  return deployment;
}

interface OtelCollectorProps extends WorkloadProps {
  /** Where traces go, OTLP over gRPC (`host:port`). */
  readonly tracesEndpoint: string;
}

/**
 * The OpenTelemetry Collector (core distribution): OTLP in on gRPC and HTTP, a memory limiter and
 * batching, OTLP out to the trace back end. Stateless: spans in flight are lost on a restart, which
 * tracing tolerates.
 */
class OtelCollector extends Construct implements Peer {
  readonly name = COLLECTOR;
  readonly selector = selectorLabels(COLLECTOR);

  constructor(scope: Construct, id: string, props: OtelCollectorProps) {
    super(scope, id);
    const { namespace } = props;
    // The limiter refuses data (the services' exporters retry, then drop) well before the
    // container limit, and GOMEMLIMIT makes the Go runtime collect before the limiter has to.
    const memoryLimitMiB = 200;
    const data = {
      'collector.yaml': JSON.stringify(otelCollectorConfig({ tracesEndpoint: props.tracesEndpoint, memoryLimitMiB }), null, 2),
    };
    const config = new kplus.ConfigMap(this, 'config', {
      metadata: { name: `${COLLECTOR}-config`, namespace, labels: workloadLabels(COLLECTOR, 'monitoring') },
      data,
    });
    monitoringWorkload(this, COLLECTOR, {
      ...props,
      configHash: hashOf(data),
      ephemeral: { request: '16Mi', limit: '128Mi' },
      servicePorts: [
        { name: 'otlp-grpc', port: OTLP_GRPC_PORT },
        { name: 'otlp-http', port: OTLP_HTTP_PORT },
      ],
      container: {
        // JSON is YAML: the collector reads the ConfigMap's file as it is.
        args: ['--config=/etc/otelcol-taskmesh/collector.yaml'],
        ports: [
          { number: OTLP_GRPC_PORT, name: 'otlp-grpc' },
          { number: OTLP_HTTP_PORT, name: 'otlp-http' },
          { number: COLLECTOR_HEALTH_PORT, name: 'health' },
        ],
        envVariables: { GOMEMLIMIT: kplus.EnvValue.fromValue('160MiB') },
        resources: {
          cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
          memory: { request: DataSize.mebibytes(64), limit: DataSize.mebibytes(memoryLimitMiB + 56) },
        },
        startup: kplus.Probe.fromHttpGet('/', { port: COLLECTOR_HEALTH_PORT, periodSeconds: Duration.seconds(2), failureThreshold: 30 }),
        readiness: kplus.Probe.fromHttpGet('/', { port: COLLECTOR_HEALTH_PORT, periodSeconds: Duration.seconds(10) }),
        // Readiness asks the health extension; liveness only whether the receiver listens.
        liveness: kplus.Probe.fromTcpSocket({ port: OTLP_HTTP_PORT, periodSeconds: Duration.seconds(15) }),
        volumeMounts: [
          {
            path: '/etc/otelcol-taskmesh',
            volume: kplus.Volume.fromConfigMap(this, 'config-volume', config, { name: 'config' }),
          },
        ],
      },
    });
  }
}

interface JaegerProps extends WorkloadProps {
  readonly maxTraces: number;
}

/**
 * Jaeger all-in-one with in-memory storage: OTLP in on 4317, query UI and API on 16686, its
 * admin port (health) on 14269. One instance, replaced rather than rolled: two would each hold
 * half of the traces.
 */
class Jaeger extends Construct implements Peer {
  readonly name = JAEGER;
  readonly selector = selectorLabels(JAEGER);

  constructor(scope: Construct, id: string, props: JaegerProps) {
    super(scope, id);
    monitoringWorkload(this, JAEGER, {
      ...props,
      strategy: kplus.DeploymentStrategy.recreate(),
      ephemeral: { request: '16Mi', limit: '128Mi' },
      servicePorts: [
        { name: 'otlp-grpc', port: OTLP_GRPC_PORT },
        { name: 'query', port: JAEGER_QUERY_PORT },
      ],
      container: {
        ports: [
          { number: OTLP_GRPC_PORT, name: 'otlp-grpc' },
          { number: JAEGER_QUERY_PORT, name: 'query' },
          { number: JAEGER_ADMIN_PORT, name: 'admin' },
        ],
        envVariables: {
          SPAN_STORAGE_TYPE: kplus.EnvValue.fromValue('memory'),
          MEMORY_MAX_TRACES: kplus.EnvValue.fromValue(String(props.maxTraces)),
          COLLECTOR_OTLP_ENABLED: kplus.EnvValue.fromValue('true'),
        },
        resources: {
          cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
          memory: { request: DataSize.mebibytes(128), limit: DataSize.mebibytes(512) },
        },
        startup: kplus.Probe.fromHttpGet('/', { port: JAEGER_ADMIN_PORT, periodSeconds: Duration.seconds(2), failureThreshold: 30 }),
        readiness: kplus.Probe.fromHttpGet('/', { port: JAEGER_ADMIN_PORT, periodSeconds: Duration.seconds(10) }),
        liveness: kplus.Probe.fromTcpSocket({ port: JAEGER_QUERY_PORT, periodSeconds: Duration.seconds(15) }),
        volumeMounts: [{ path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'tmp', 'tmp', { sizeLimit: DataSize.mebibytes(64) }) }],
      },
    });
  }
}
