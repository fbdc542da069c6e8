import { Duration, Size as DataSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { k8s } from 'cdk8s-plus-28';
import { PROMETHEUS_VERSION, grafanaDashboardProvider, prometheusConfig } from '@taskmesh/dashboards';
import { Construct } from 'constructs';
import { hashOf, limitEphemeralStorage, selectPods } from './http-service.js';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import { LOCAL_PLACEHOLDER_SECRETS, PLACEHOLDER_ANNOTATION } from './local-secrets.js';
import type { TrafficRules } from './network.js';
import { restrictedContainerSecurityProps, restrictedPodSecurityProps } from './security.js';
import { pdb } from './workload-defaults.js';

/** Where Grafana finds the dashboards ConfigMap; its provider file points there. */
const DASHBOARDS_PATH = '/var/lib/grafana-dashboards';

/** The uid of the Prometheus datasource that dashboards refer to. */
export const PROMETHEUS_DATASOURCE_UID = 'prometheus';

/** A Prometheus rule file: `{ groups: [{ name, rules }] }`. */
export interface PrometheusRuleFile {
  readonly groups: readonly object[];
}

/** What an extension (e.g. a tracing backend) gets to wire itself into the monitoring stack. */
export interface MonitoringContext {
  readonly namespace: string;
  readonly network: TrafficRules;
  readonly prometheus: Peer;
  readonly grafana: Peer;
  /** The platform's services, e.g. to let them reach a trace collector. */
  readonly services: readonly Peer[];
}

/** Adds workloads next to Prometheus and Grafana, e.g. an OpenTelemetry Collector and Jaeger. */
export type MonitoringExtension = (scope: Construct, context: MonitoringContext) => void;

/** Something Prometheus scrapes: a workload whose pods serve /metrics on `port`. */
export interface ScrapeTarget extends Peer {
  readonly port: number;
}

export interface MonitoringProps {
  readonly namespace: string;
  readonly network: TrafficRules;
  /** Grafana dashboards by file name (`overview.json`). @default {} */
  readonly dashboards?: Readonly<Record<string, object>>;
  /** Prometheus alerting rules. @default { groups: [] } */
  readonly alertRules?: PrometheusRuleFile;
  /** More `scrape_configs` entries, appended after the pod discovery job. @default [] */
  readonly extraScrapeConfigs?: readonly object[];
  /** More Grafana datasources (e.g. Jaeger or Tempo). @default [] */
  readonly extraDatasources?: readonly object[];
  /** Extra workloads of the monitoring stack. @default [] */
  readonly extensions?: readonly MonitoringExtension[];
  /** The services extensions may wire themselves to. @default [] */
  readonly services?: readonly Peer[];
  /** Node port of Grafana, for a kind host port mapping. @default - ClusterIP */
  readonly grafanaNodePort?: number;
  /** @default `prom/prometheus:v${PROMETHEUS_VERSION}`, the release the rule tests run on */
  readonly prometheusImage?: string;
  /** @default 'grafana/grafana:12.2.0' */
  readonly grafanaImage?: string;
}

const PROMETHEUS_PORT = 9090;
const GRAFANA_PORT = 3000;

/**
 * Prometheus (pod discovery in the namespace, scraping every pod annotated `prometheus.io/scrape`
 * on its `prometheus.io/port`, evaluating the alert rules) and Grafana (Prometheus datasource,
 * dashboards provisioned from a ConfigMap). Plain constructs rather than Helm charts: the output
 * is a handful of objects that the same schema validation, linting and NetworkPolicies cover.
 */
export class Monitoring extends Construct {
  readonly prometheus: Peer;
  readonly grafana: Peer;
  readonly prometheusUrl = `http://prometheus:${PROMETHEUS_PORT}`;
  private readonly network: TrafficRules;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { namespace, network } = props;
    this.network = network;
    this.prometheus = { name: 'prometheus', selector: selectorLabels('prometheus') };
    this.grafana = { name: 'grafana', selector: selectorLabels('grafana') };

    this.buildPrometheus(props);
    this.buildGrafana(props);

    network.allow(this.grafana, this.prometheus, PROMETHEUS_PORT);
    network.allowFromAnywhere(this.grafana, GRAFANA_PORT);
    // Pod discovery reads the Kubernetes API, whose address depends on the cluster.
    network.allowToAnywhere(this.prometheus, 443, 6443);

    const context: MonitoringContext = {
      namespace,
      network,
      prometheus: this.prometheus,
      grafana: this.grafana,
      services: props.services ?? [],
    };
    (props.extensions ?? []).forEach((extend, i) => extend(new Construct(this, `extension-${i}`), context));
  }

  /** Lets Prometheus reach a workload's metrics port (discovery itself is by pod annotation). */
  scrape(target: ScrapeTarget): void {
    this.network.allow(this.prometheus, target, target.port);
  }

  private buildPrometheus(props: MonitoringProps) {
    const { namespace } = props;
    const name = 'prometheus';
    const labels = workloadLabels(name, 'monitoring');
    // The same configuration as the local run's, with pods discovered in the namespace.
    const config = prometheusConfig({
      discovery: { kubernetesNamespace: namespace },
      ruleFiles: ['/etc/prometheus/rules/*.yaml'],
      selfAddress: `localhost:${PROMETHEUS_PORT}`,
      extraScrapeConfigs: props.extraScrapeConfigs,
    });
    const data = {
      'prometheus.yml': JSON.stringify(config, null, 2),
      'alerts.yaml': JSON.stringify(props.alertRules ?? { groups: [] }, null, 2),
    };
    // JSON is YAML: Prometheus reads both files as they are.
    const configMap = new kplus.ConfigMap(this, 'prometheus-config', {
      metadata: { name: `${name}-config`, namespace, labels },
      data: { 'prometheus.yml': data['prometheus.yml'] },
    });
    const rules = new kplus.ConfigMap(this, 'prometheus-rules', {
      metadata: { name: `${name}-rules`, namespace, labels },
      data: { 'alerts.yaml': data['alerts.yaml'] },
    });

    // Pod discovery is the one thing in the namespace that needs an API token: read-only on pods.
    const serviceAccount = new kplus.ServiceAccount(this, 'prometheus-sa', {
      metadata: { name, namespace, labels },
      automountToken: true,
    });
    new k8s.KubeRole(this, 'prometheus-role', {
      metadata: { name, namespace, labels },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    });
    new k8s.KubeRoleBinding(this, 'prometheus-role-binding', {
      metadata: { name, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    });

    const storage = kplus.Volume.fromEmptyDir(this, 'prometheus-data', 'data', { sizeLimit: DataSize.gibibytes(2) });
    const deployment = new kplus.Deployment(this, 'prometheus', {
      metadata: { name, namespace, labels },
      replicas: 1,
      select: false,
      podMetadata: { labels, annotations: { 'taskmesh.dev/config-hash': hashOf(data) } },
      serviceAccount,
      automountServiceAccountToken: true,
      securityContext: restrictedPodSecurityProps,
      // Two instances would write into two separate emptyDirs; one at a time is enough here.
      strategy: kplus.DeploymentStrategy.recreate(),
      containers: [
        {
          name,
          image: props.prometheusImage ?? `prom/prometheus:v${PROMETHEUS_VERSION}`,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          args: [
            '--config.file=/etc/prometheus/prometheus.yml',
            '--storage.tsdb.path=/prometheus',
            '--storage.tsdb.retention.time=2d',
          ],
          ports: [{ number: PROMETHEUS_PORT, name: 'http' }],
          securityContext: restrictedContainerSecurityProps,
          resources: {
            cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(1000) },
            memory: { request: DataSize.mebibytes(256), limit: DataSize.mebibytes(768) },
          },
          startup: kplus.Probe.fromHttpGet('/-/ready', { port: PROMETHEUS_PORT, periodSeconds: Duration.seconds(2), failureThreshold: 60 }),
          readiness: kplus.Probe.fromHttpGet('/-/ready', { port: PROMETHEUS_PORT, periodSeconds: Duration.seconds(10) }),
          liveness: kplus.Probe.fromHttpGet('/-/healthy', { port: PROMETHEUS_PORT, periodSeconds: Duration.seconds(15) }),
          volumeMounts: [
            {
              path: '/etc/prometheus/prometheus.yml',
              subPath: 'prometheus.yml',
              volume: kplus.Volume.fromConfigMap(this, 'prometheus-config-volume', configMap, { name: 'config' }),
            },
            {
              path: '/etc/prometheus/rules',
              volume: kplus.Volume.fromConfigMap(this, 'prometheus-rules-volume', rules, { name: 'rules' }),
            },
            { path: '/prometheus', volume: storage },
          ],
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: { ...this.prometheus.selector } }));
    // The TSDB lives in an emptyDir (2 GiB at most), which counts as ephemeral storage.
    limitEphemeralStorage(deployment, '256Mi', '3Gi');
    const service = new kplus.Service(this, 'prometheus-service', {
      metadata: { name, namespace, labels },
      ports: [{ name: 'http', port: PROMETHEUS_PORT, targetPort: PROMETHEUS_PORT }],
    });
    selectPods(service, this.prometheus.selector);
    pdb(this, name, namespace, labels, { ...this.prometheus.selector });
    this.scrape({ ...this.prometheus, port: PROMETHEUS_PORT });
  }

  private buildGrafana(props: MonitoringProps) {
    const { namespace } = props;
    const name = 'grafana';
    const labels = workloadLabels(name, 'monitoring');
    const provisioning = {
      'datasources.yaml': JSON.stringify(
        {
          apiVersion: 1,
          datasources: [
            {
              name: 'Prometheus',
              uid: PROMETHEUS_DATASOURCE_UID,
              type: 'prometheus',
              access: 'proxy',
              url: this.prometheusUrl,
              isDefault: true,
              editable: false,
            },
            ...(props.extraDatasources ?? []),
          ],
        },
        null,
        2,
      ),
      'dashboards.yaml': JSON.stringify(grafanaDashboardProvider(DASHBOARDS_PATH), null, 2),
    };
    const dashboards: Record<string, string> = {};
    for (const file of Object.keys(props.dashboards ?? {}).sort()) {
      dashboards[file] = JSON.stringify(props.dashboards?.[file], null, 2);
    }
    const provisioningMap = new kplus.ConfigMap(this, 'grafana-provisioning', {
      metadata: { name: `${name}-provisioning`, namespace, labels },
      data: provisioning,
    });
    const dashboardMap = new kplus.ConfigMap(this, 'grafana-dashboards', {
      metadata: { name: `${name}-dashboards`, namespace, labels },
      data: dashboards,
    });
    const admin = new kplus.Secret(this, 'grafana-admin', {
      metadata: { name: `${name}-admin`, namespace, labels, annotations: { ...PLACEHOLDER_ANNOTATION } },
      stringData: {
        user: LOCAL_PLACEHOLDER_SECRETS.grafanaAdminUser,
        password: LOCAL_PLACEHOLDER_SECRETS.grafanaAdminPassword,
      },
    });
    const serviceAccount = new kplus.ServiceAccount(this, 'grafana-sa', {
      metadata: { name, namespace, labels },
      automountToken: false,
    });

    const provisioningVolume = kplus.Volume.fromConfigMap(this, 'grafana-provisioning-volume', provisioningMap, { name: 'provisioning' });
    const deployment = new kplus.Deployment(this, 'grafana', {
      metadata: { name, namespace, labels },
      replicas: 1,
      select: false,
      podMetadata: {
        labels,
        annotations: { 'taskmesh.dev/config-hash': hashOf({ ...provisioning, ...dashboards }) },
      },
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: restrictedPodSecurityProps,
      // Grafana keeps its SQLite database in an emptyDir: one instance, replaced, not rolled.
      strategy: kplus.DeploymentStrategy.recreate(),
      containers: [
        {
          name,
          image: props.grafanaImage ?? 'grafana/grafana:12.2.0',
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ number: GRAFANA_PORT, name: 'http' }],
          envVariables: {
            GF_SECURITY_ADMIN_USER: kplus.EnvValue.fromSecretValue({ secret: admin, key: 'user' }),
            GF_SECURITY_ADMIN_PASSWORD: kplus.EnvValue.fromSecretValue({ secret: admin, key: 'password' }),
            GF_AUTH_ANONYMOUS_ENABLED: kplus.EnvValue.fromValue('true'),
            GF_AUTH_ANONYMOUS_ORG_ROLE: kplus.EnvValue.fromValue('Viewer'),
            GF_PATHS_DATA: kplus.EnvValue.fromValue('/var/lib/grafana'),
            GF_PATHS_PROVISIONING: kplus.EnvValue.fromValue('/etc/grafana/provisioning'),
            // The image also logs to /var/log/grafana, which a read-only root filesystem refuses.
            GF_LOG_MODE: kplus.EnvValue.fromValue('console'),
            GF_PATHS_LOGS: kplus.EnvValue.fromValue('/tmp/grafana-logs'),
            // The cluster has no way out: no update checks, no plugin downloads, no telemetry.
            GF_ANALYTICS_REPORTING_ENABLED: kplus.EnvValue.fromValue('false'),
            GF_ANALYTICS_CHECK_FOR_UPDATES: kplus.EnvValue.fromValue('false'),
            GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: kplus.EnvValue.fromValue('false'),
            GF_NEWS_NEWS_FEED_ENABLED: kplus.EnvValue.fromValue('false'),
            GF_PLUGINS_PREINSTALL_DISABLED: kplus.EnvValue.fromValue('true'),
          },
          securityContext: restrictedContainerSecurityProps,
          resources: {
            cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
            memory: { request: DataSize.mebibytes(128), limit: DataSize.mebibytes(384) },
          },
          startup: kplus.Probe.fromHttpGet('/api/health', { port: GRAFANA_PORT, periodSeconds: Duration.seconds(2), failureThreshold: 60 }),
          readiness: kplus.Probe.fromHttpGet('/api/health', { port: GRAFANA_PORT, periodSeconds: Duration.seconds(10) }),
          // Readiness asks Grafana (and its database); liveness only whether the process listens.
          liveness: kplus.Probe.fromTcpSocket({ port: GRAFANA_PORT, periodSeconds: Duration.seconds(15) }),
          volumeMounts: [
            {
              path: '/etc/grafana/provisioning/datasources/datasources.yaml',
              subPath: 'datasources.yaml',
              volume: provisioningVolume,
            },
            {
              path: '/etc/grafana/provisioning/dashboards/dashboards.yaml',
              subPath: 'dashboards.yaml',
              volume: provisioningVolume,
            },
            {
              path: DASHBOARDS_PATH,
              volume: kplus.Volume.fromConfigMap(this, 'grafana-dashboards-volume', dashboardMap, { name: 'dashboards' }),
            },
            {
              path: '/var/lib/grafana',
              volume: kplus.Volume.fromEmptyDir(this, 'grafana-data', 'data', { sizeLimit: DataSize.mebibytes(512) }),
            },
            { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'grafana-tmp', 'tmp', { sizeLimit: DataSize.mebibytes(64) }) },
          ],
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: { ...this.grafana.selector } }));
    limitEphemeralStorage(deployment, '128Mi', '1Gi');
    const service = new kplus.Service(this, 'grafana-service', {
      metadata: { name, namespace, labels },
      type: props.grafanaNodePort === undefined ? kplus.ServiceType.CLUSTER_IP : kplus.ServiceType.NODE_PORT,
      ports: [{ name: 'http', port: GRAFANA_PORT, targetPort: GRAFANA_PORT, nodePort: props.grafanaNodePort }],
    });
    selectPods(service, this.grafana.selector);
    pdb(this, name, namespace, labels, { ...this.grafana.selector });
  }
}
