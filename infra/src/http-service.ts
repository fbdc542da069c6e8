import { createHash } from 'node:crypto';
import { ApiObject, Duration, JsonPatch, Size as DataSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import { restrictedContainerSecurityProps, restrictedPodSecurityProps } from './security.js';
import type { ReplicaRange } from './sizes.js';
import { pdb } from './workload-defaults.js';

/** A value taken from a key of a Secret. */
export interface SecretKeyRef {
  readonly secret: kplus.ISecret;
  readonly key: string;
}

export interface HttpServiceProps {
  readonly namespace: string;
  /** Name of the Deployment, Service, ServiceAccount, HPA and PDB, and the DNS name of the service. */
  readonly name: string;
  /** Image reference; Skaffold replaces it with the tag it built. */
  readonly image: string;
  /** The one port serving the API, `/health/*` and `/metrics`. */
  readonly port: number;
  /** Non-secret environment, stored in the workload's ConfigMap. @default {} */
  readonly config?: Readonly<Record<string, string>>;
  /** Secret environment variables. @default {} */
  readonly secretEnv?: Readonly<Record<string, SecretKeyRef>>;
  /** HPA bounds. */
  readonly replicas: ReplicaRange;
  /** Average CPU utilization (of the request) the HPA keeps. @default 70 */
  readonly targetCpuUtilization?: number;
  /**
   * How fast the HPA adds pods.
   * @default up to 2 pods or 100% per 30 s, no stabilization window
   */
  readonly scaleUp?: kplus.ScalingRules;
  /**
   * How fast the HPA removes pods.
   * @default one pod per minute after 3 minutes below target
   */
  readonly scaleDown?: kplus.ScalingRules;
  /**
   * Requests and limits. Requests stay small so that a laptop fits the whole stack and a 70% HPA
   * target is reached under a modest load.
   * @default cpu 100m request / 500m limit, memory 128Mi request / 384Mi limit
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * How long the app takes at most to close once it stops listening: in-flight requests and
   * consumers finish (its SHUTDOWN_TIMEOUT_MS).
   * @default 10 seconds
   */
  readonly shutdownTimeout?: Duration;
  /**
   * After SIGTERM, how long the app goes on serving with every answer saying `Connection: close`,
   * so that keep-alive connections that kube-proxy keeps on the old pod move to the others (its
   * DRAIN_MS). Longer than the app's keep-alive timeout (4 s). See docs/kubernetes.md, Draining.
   * @default 5 seconds
   */
  readonly drain?: Duration;
  /**
   * Pause before SIGTERM, so that endpoints and kube-proxy stop routing to the pod first.
   * @default 5 seconds
   */
  readonly preStopDelay?: Duration;
  /** Fixed node port, for a kind host port mapping. @default - ClusterIP service */
  readonly nodePort?: number;
}

/**
 * One Fastify process behind a Service: Deployment with startup, readiness and liveness probes,
 * restricted security context, read-only root filesystem, HPA, PDB, ConfigMap and a
 * ServiceAccount that mounts no API token.
 */
export class HttpService extends Construct implements Peer {
  readonly name: string;
  readonly port: number;
  readonly selector: Readonly<Record<string, string>>;
  readonly deployment: kplus.Deployment;
  readonly service: kplus.Service;
  readonly configMap: kplus.ConfigMap;
  readonly autoscaler: kplus.HorizontalPodAutoscaler;
  /** `http://<name>:<port>`, for other workloads of the namespace. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: HttpServiceProps) {
    super(scope, id);
    const { namespace, name, port } = props;
    this.name = name;
    this.port = port;
    this.selector = selectorLabels(name);
    this.url = `http://${name}:${port}`;
    const labels = workloadLabels(name, 'api');
    const shutdownTimeout = props.shutdownTimeout ?? Duration.seconds(10);
    const preStopDelay = props.preStopDelay ?? Duration.seconds(5);
    const drain = props.drain ?? Duration.seconds(5);
    // Kubernetes kills the pod when this runs out: the pause, the drain, the close, and 5 s of slack.
    const grace = Duration.seconds(preStopDelay.toSeconds() + drain.toSeconds() + shutdownTimeout.toSeconds() + 5);

    const config: Record<string, string> = {
      HOST: '0.0.0.0',
      PORT: String(port),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeout.toMilliseconds()),
      DRAIN_MS: String(drain.toMilliseconds()),
      // service.name of its spans; tracing itself is configured by whatever OTEL_* config adds.
      OTEL_SERVICE_NAME: name,
      ...props.config,
    };
    this.configMap = new kplus.ConfigMap(this, 'config', {
      metadata: { name: `${name}-config`, namespace, labels },
      data: config,
    });

    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, namespace, labels },
      automountToken: false,
    });

    const tmp = kplus.Volume.fromEmptyDir(this, 'tmp', 'tmp', { sizeLimit: DataSize.mebibytes(64) });
    const envVariables: Record<string, kplus.EnvValue> = {};
    for (const [key, ref] of Object.entries(props.secretEnv ?? {})) {
      envVariables[key] = kplus.EnvValue.fromSecretValue({ secret: ref.secret, key: ref.key });
    }

    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace, labels },
      select: false,
      podMetadata: {
        labels,
        annotations: {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(port),
          'prometheus.io/path': '/metrics',
          // A config change must roll the pods, which read their environment only at start.
          'taskmesh.dev/config-hash': hashOf(config),
        },
      },
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: restrictedPodSecurityProps,
      terminationGracePeriod: grace,
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(1),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      containers: [
        {
          name,
          image: props.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ number: port, name: 'http' }],
          envFrom: [kplus.Env.fromConfigMap(this.configMap)],
          envVariables,
          securityContext: restrictedContainerSecurityProps,
          resources: props.resources ?? {
            cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
            memory: { request: DataSize.mebibytes(128), limit: DataSize.mebibytes(384) },
          },
          // Startup covers a slow first boot (JIT, connections); the other two start after it.
          startup: kplus.Probe.fromHttpGet('/health/live', {
            port,
            periodSeconds: Duration.seconds(2),
            failureThreshold: 30,
            timeoutSeconds: Duration.seconds(2),
          }),
          readiness: kplus.Probe.fromHttpGet('/health/ready', {
            port,
            periodSeconds: Duration.seconds(5),
            failureThreshold: 2,
            timeoutSeconds: Duration.seconds(3),
          }),
          // Liveness asks only about the process, so a dependency outage never restarts pods.
          liveness: kplus.Probe.fromHttpGet('/health/live', {
            port,
            periodSeconds: Duration.seconds(10),
            failureThreshold: 3,
            timeoutSeconds: Duration.seconds(2),
          }),
          lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(preStopDelay.toSeconds())]) },
          volumeMounts: [{ path: '/tmp', volume: tmp }],
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: { ...this.selector } }));
    limitEphemeralStorage(this.deployment, '64Mi', '512Mi');
    this.deployment.scheduling.spread({ topology: kplus.Topology.HOSTNAME, weight: 100 });

    this.service = new kplus.Service(this, 'service', {
      metadata: { name, namespace, labels },
      type: props.nodePort === undefined ? kplus.ServiceType.CLUSTER_IP : kplus.ServiceType.NODE_PORT,
      ports: [{ name: 'http', port, targetPort: port, nodePort: props.nodePort }],
    });
    selectPods(this.service, this.selector);

    this.autoscaler = new kplus.HorizontalPodAutoscaler(this, 'hpa', {
      metadata: { name, namespace, labels },
      target: this.deployment,
      minReplicas: props.replicas.min,
      maxReplicas: props.replicas.max,
      metrics: [kplus.Metric.resourceCpu(kplus.MetricTarget.averageUtilization(props.targetCpuUtilization ?? 70))],
      scaleUp: props.scaleUp ?? {
        stabilizationWindow: Duration.seconds(0),
        strategy: kplus.ScalingStrategy.MAX_CHANGE,
        policies: [
          { replicas: kplus.Replicas.absolute(2), duration: Duration.seconds(30) },
          { replicas: kplus.Replicas.percent(100), duration: Duration.seconds(30) },
        ],
      },
      scaleDown: props.scaleDown ?? {
        stabilizationWindow: Duration.minutes(3),
        strategy: kplus.ScalingStrategy.MIN_CHANGE,
        policies: [{ replicas: kplus.Replicas.absolute(1), duration: Duration.minutes(1) }],
      },
    });

    // maxUnavailable rather than minAvailable: with one replica a node drain still proceeds.
    pdb(this, name, namespace, labels, { ...this.selector });
  }
}

/** Points a Service at a workload's stable selector label (not cdk8s-plus's generated one). */
export function selectPods(service: kplus.Service, selector: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(selector)) service.selectLabel(key, value);
}

/**
 * Sets the ephemeral-storage request and limit of a cdk8s-plus workload's first container
 * (cdk8s-plus only writes whole gibibytes). emptyDirs and logs count against it.
 */
export function limitEphemeralStorage(workload: kplus.Deployment, request: string, limit: string): void {
  const resources = '/spec/template/spec/containers/0/resources';
  // The patch lands before the typed serializer, which expects Quantity objects.
  ApiObject.of(workload).addJsonPatch(
    JsonPatch.add(`${resources}/requests/ephemeral-storage`, k8s.Quantity.fromString(request)),
    JsonPatch.add(`${resources}/limits/ephemeral-storage`, k8s.Quantity.fromString(limit)),
  );
}

/** A short, stable digest of a string map (keys sorted), for pod-template annotations. */
export function hashOf(data: Readonly<Record<string, string>>): string {
  const canonical = JSON.stringify(
    Object.keys(data)
      .sort()
      .map((k) => [k, data[k]]),
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}
