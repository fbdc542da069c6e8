import { App, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { k8s } from 'cdk8s-plus-28';
import { HttpService } from './http-service.js';
import { KafkaCluster } from './kafka-cluster.js';
import { PART_OF } from './labels.js';
import { LoadGenerator } from './load-generator.js';
import { LOCAL_PLACEHOLDER_SECRETS, PLACEHOLDER_ANNOTATION } from './local-secrets.js';
import { MetricsServer } from './metrics-server.js';
import { MongoShardedCluster, type ShardedCollection } from './mongo-sharded-cluster.js';
import { Monitoring, type MonitoringExtension, type PrometheusRuleFile } from './monitoring.js';
import { TrafficRules } from './network.js';
import { Redis } from './redis.js';
import { RESOURCE_RULE, serviceResources } from './service-resources.js';
import type { Size } from './sizes.js';

export const NAMESPACE = 'taskmesh';

/** Ports fixed by the services' defaults and the contracts. */
export const PORTS = { gateway: 8080, auth: 3001, task: 3002, analytics: 3003 } as const;

/** Node ports that k8s/kind-cluster.yaml maps to the host. */
export const NODE_PORTS = { gateway: 30080, grafana: 30030 } as const;

/** Shard keys of the design (docs/architecture.md) and of the auth service (docs/auth.md). */
export const SHARDED_COLLECTIONS: readonly ShardedCollection[] = [
  { namespace: 'task.tasks', key: { ownerId: 'hashed' } },
  { namespace: 'analytics.user_stats', key: { userId: 'hashed' } },
  // A unique index on a sharded collection must start with the shard key, so email is the key.
  { namespace: 'auth.users', key: { email: 1 }, unique: true },
  { namespace: 'auth.users_by_id', key: { _id: 'hashed' } },
  { namespace: 'auth.refresh_tokens', key: { _id: 'hashed' } },
  { namespace: 'auth.spent_refresh_tokens', key: { _id: 'hashed' } },
  { namespace: 'auth.revoked_sessions', key: { _id: 'hashed' } },
  { namespace: 'auth.login_failures', key: { account: 'hashed' } },
  { namespace: 'auth.login_locks', key: { _id: 'hashed' } },
];

export interface PlatformProps {
  readonly size: Size;
  /** Image tag of the four services; Skaffold substitutes the tag it built. @default '0.1.0' */
  readonly imageTag?: string;
  /** Grafana dashboards by file name. @default {} */
  readonly dashboards?: Readonly<Record<string, object>>;
  /** Prometheus alert rules. @default { groups: [] } */
  readonly alertRules?: PrometheusRuleFile;
  /** Extra monitoring workloads (collector, tracing backend). @default [] */
  readonly monitoringExtensions?: readonly MonitoringExtension[];
  /** More environment for the four services (e.g. OTEL_* variables). @default {} */
  readonly serviceEnv?: Readonly<Record<string, string>>;
  /** Grafana data sources next to Prometheus (e.g. Jaeger). @default [] */
  readonly grafanaDatasources?: readonly object[];
}

/**
 * The whole stack on one cluster, one chart per file so that `kubectl apply -f` on the folder
 * creates the namespace first (files apply in name order).
 */
export function buildPlatform(app: App, props: PlatformProps): void {
  const { size } = props;
  const namespace = NAMESPACE;
  const tag = props.imageTag ?? '0.1.0';
  const common = { labels: { 'app.kubernetes.io/part-of': PART_OF } };

  const base = new Chart(app, '00-namespace', common);
  new k8s.KubeNamespace(base, 'namespace', {
    metadata: {
      name: namespace,
      labels: {
        // Every pod of the platform must pass the "restricted" profile; the API server refuses others.
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'v1.34',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      },
    },
  });

  const networkChart = new Chart(app, '10-network-policies', common);
  const network = new TrafficRules(networkChart, 'traffic', { namespace });

  const dataChart = new Chart(app, '20-data', common);
  const mongo = new MongoShardedCluster(dataChart, 'mongo', {
    namespace,
    network,
    members: size.mongoReplicaSetMembers,
    routers: size.mongosReplicas,
    storage: size.volumeSize,
    collections: SHARDED_COLLECTIONS,
  });
  const kafka = new KafkaCluster(dataChart, 'kafka', {
    namespace,
    network,
    nodes: size.kafkaNodes,
    storage: size.volumeSize,
  });
  const redis = new Redis(dataChart, 'redis', { namespace });

  const appsChart = new Chart(app, '30-services', common);
  const signingKeys = new kplus.Secret(appsChart, 'auth-signing-keys', {
    metadata: { name: 'auth-signing-keys', namespace, annotations: { ...PLACEHOLDER_ANNOTATION } },
    stringData: {
      current: LOCAL_PLACEHOLDER_SECRETS.authSigningKeyCurrent,
      previous: LOCAL_PLACEHOLDER_SECRETS.authSigningKeyPrevious,
    },
  });
  const taskSecrets = new kplus.Secret(appsChart, 'task-secrets', {
    metadata: { name: 'task-secrets', namespace, annotations: { ...PLACEHOLDER_ANNOTATION } },
    stringData: { cursorSecret: LOCAL_PLACEHOLDER_SECRETS.taskCursorSecret },
  });

  // Read by all four: token checks, and whatever serviceEnv adds.
  const shared = { JWT_ISSUER: 'taskmesh-auth', JWT_AUDIENCE: 'taskmesh', ...props.serviceEnv };
  const auth = new HttpService(appsChart, 'auth', {
    namespace,
    name: 'auth',
    image: `taskmesh/auth:${tag}`,
    resources: serviceResources('auth'),
    targetCpuUtilization: RESOURCE_RULE.targetCpuUtilization,
    port: PORTS.auth,
    replicas: size.services,
    config: {
      ...shared,
      MONGODB_URI: mongo.uri,
      MONGODB_DB: 'auth',
      KAFKA_BROKERS: kafka.bootstrapServers,
      // The profile cache (docs/auth.md); Redis down only means reads go to Mongo.
      REDIS_URL: redis.url,
      ACCESS_TOKEN_TTL_SECONDS: '900',
      ADMIN_EMAILS: 'admin@example.com',
    },
    secretEnv: {
      AUTH_SIGNING_KEY_CURRENT: { secret: signingKeys, key: 'current' },
      AUTH_SIGNING_KEY_PREVIOUS: { secret: signingKeys, key: 'previous' },
    },
  });
  const jwksUrl = `${auth.url}/.well-known/jwks.json`;
  const task = new HttpService(appsChart, 'task', {
    namespace,
    name: 'task',
    image: `taskmesh/task:${tag}`,
    resources: serviceResources('task'),
    targetCpuUtilization: RESOURCE_RULE.targetCpuUtilization,
    port: PORTS.task,
    replicas: size.services,
    config: { ...shared, MONGODB_URI: mongo.uri, MONGODB_DB: 'task', KAFKA_BROKERS: kafka.bootstrapServers, JWKS_URL: jwksUrl },
    secretEnv: { CURSOR_SECRET: { secret: taskSecrets, key: 'cursorSecret' } },
  });
  const analytics = new HttpService(appsChart, 'analytics', {
    namespace,
    name: 'analytics',
    image: `taskmesh/analytics:${tag}`,
    resources: serviceResources('analytics'),
    targetCpuUtilization: RESOURCE_RULE.targetCpuUtilization,
    port: PORTS.analytics,
    replicas: size.services,
    config: {
      ...shared,
      MONGODB_URI: mongo.uri,
      MONGODB_DB: 'analytics',
      KAFKA_BROKERS: kafka.bootstrapServers,
      JWKS_URL: jwksUrl,
      // The statistics cache (docs/analytics.md); Redis down only means reads go to Mongo.
      REDIS_URL: redis.url,
    },
  });
  const gateway = new HttpService(appsChart, 'gateway', {
    namespace,
    name: 'gateway',
    image: `taskmesh/gateway:${tag}`,
    resources: serviceResources('gateway'),
    targetCpuUtilization: RESOURCE_RULE.targetCpuUtilization,
    port: PORTS.gateway,
    replicas: size.gateway,
    nodePort: NODE_PORTS.gateway,
    config: {
      ...shared,
      REDIS_URL: redis.url,
      AUTH_URL: auth.url,
      TASK_URL: task.url,
      ANALYTICS_URL: analytics.url,
      JWKS_URL: jwksUrl,
      RATE_LIMIT_AUTH_PER_MINUTE: '5',
      RATE_LIMIT_API_PER_MINUTE: '100',
      // Clients arrive through kube-proxy or a port-forward; no proxy header is trusted.
      TRUSTED_PROXIES: '',
      CORS_ORIGINS: 'http://localhost:8080',
    },
    // Draining takes longer at the front door: in-flight requests wait on their upstreams.
    shutdownTimeout: Duration.seconds(15),
  });

  network.allowFromAnywhere(gateway, PORTS.gateway);
  for (const upstream of [auth, task, analytics]) network.allow(gateway, upstream, upstream.port);
  // The gateway's rate limits; auth's and analytics' caches.
  for (const client of [gateway, auth, analytics]) redis.allowClient(network, client);
  // task and analytics verify tokens against auth's JWKS.
  network.allow(task, auth, PORTS.auth);
  network.allow(analytics, auth, PORTS.auth);
  for (const service of [auth, task, analytics]) {
    mongo.allowClient(network, service);
    kafka.allowClient(network, service);
  }

  const monitoringChart = new Chart(app, '40-monitoring', common);
  const monitoring = new Monitoring(monitoringChart, 'monitoring', {
    namespace,
    network,
    dashboards: props.dashboards,
    alertRules: props.alertRules,
    extensions: props.monitoringExtensions,
    extraDatasources: props.grafanaDatasources,
    services: [gateway, auth, task, analytics],
    grafanaNodePort: NODE_PORTS.grafana,
  });
  for (const service of [gateway, auth, task, analytics]) monitoring.scrape(service);

  new MetricsServer(new Chart(app, '50-metrics-server', common), 'metrics-server');
}

/** Tools applied by hand, kept out of the deployed stack. */
export function buildTools(app: App): void {
  const chart = new Chart(app, 'load-generator', { labels: { 'app.kubernetes.io/part-of': PART_OF } });
  new LoadGenerator(chart, 'load-generator', {
    namespace: NAMESPACE,
    targetUrl: `http://gateway:${PORTS.gateway}/health/live`,
    targetPort: PORTS.gateway,
    targetSelector: { 'app.kubernetes.io/name': 'gateway' },
  });
}
