import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { MONGO_INIT_SCRIPT } from './mongo-init.js.js';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import type { TrafficRules } from './network.js';
import { restrictedContainerSecurityContext } from './security.js';
import { hashOf } from './http-service.js';
import { autoscaleCpu, pdb, podDefaults, resources, tcpProbe } from './workload-defaults.js';

/** A collection to shard, with its shard key. */
export interface ShardedCollection {
  /** `database.collection`. */
  readonly namespace: string;
  readonly key: Readonly<Record<string, 1 | 'hashed'>>;
  /** Enforce uniqueness of the shard key (only for range keys). @default false */
  readonly unique?: boolean;
}

export interface MongoShardedClusterProps {
  readonly namespace: string;
  readonly network: TrafficRules;
  /** Members of every replica set (config servers and each shard). */
  readonly members: number;
  /** Number of shards, each a replica set. @default 2 */
  readonly shards?: number;
  /** mongos routers. */
  readonly routers: number;
  /** Volume of each mongod. */
  readonly storage: string;
  readonly collections: readonly ShardedCollection[];
  /** @default 'mongo:7.0.14' */
  readonly image?: string;
  /** WiredTiger cache per mongod, kept small so that a laptop fits. @default 0.25 */
  readonly cacheSizeGb?: number;
}

/**
 * mongod and mongos have one port, and the only probe cheaper than starting mongosh (a Node.js
 * process, ~100 MiB) every few seconds is a TCP connect: readiness and liveness both use it,
 * with liveness far more patient, so a busy member is taken out of rotation long before it would
 * be restarted.
 */
const IDENTICAL_PROBES_REASON = { 'kube-score/ignore': 'pod-probes-identical' };

const CONFIG_PORT = 27019;
const SHARD_PORT = 27018;
const ROUTER_PORT = 27017;

/**
 * A real sharded MongoDB: a config server replica set, N shards (each a replica set), mongos
 * routers behind the `mongo` Service, and an init Job that initiates the replica sets, adds the
 * shards and shards the collections.
 */
export class MongoShardedCluster extends Construct {
  /** Connection string for the services: the routers. */
  readonly uri: string;
  /** The mongos pods: the only ones clients talk to. */
  readonly router: Peer;
  /** Every mongod (config servers and shards): they all talk to each other. */
  readonly dataMembers: Peer;
  /** The init Job's pod. */
  readonly initJob: Peer;

  private readonly namespace: string;
  private readonly image: string;

  constructor(scope: Construct, id: string, props: MongoShardedClusterProps) {
    super(scope, id);
    const { namespace } = props;
    this.namespace = namespace;
    this.image = props.image ?? 'mongo:7.0.14';
    const cache = String(props.cacheSizeGb ?? 0.25);
    const dataLabel = { 'taskmesh.dev/mongo-data': 'true' };
    this.dataMembers = { name: 'mongo-data', selector: dataLabel };
    this.router = { name: 'mongos', selector: selectorLabels('mongos') };
    this.initJob = { name: 'mongo-init', selector: selectorLabels('mongo-init') };

    const configSet = this.replicaSet({
      name: 'mongo-config',
      replSet: 'cfg',
      role: '--configsvr',
      port: CONFIG_PORT,
      members: props.members,
      storage: props.storage,
      cache,
      extraLabels: dataLabel,
    });
    const shardSets = Array.from({ length: props.shards ?? 2 }, (_, i) =>
      this.replicaSet({
        name: `mongo-shard-${i}`,
        replSet: `shard${i}`,
        role: '--shardsvr',
        port: SHARD_PORT,
        members: props.members,
        storage: props.storage,
        cache,
        extraLabels: dataLabel,
      }),
    );

    this.routers(props.routers, `${configSet.replSet}/${configSet.hosts.join(',')}`);
    this.uri = `mongodb://mongo:${ROUTER_PORT}`;

    const topology = {
      configReplicaSet: { name: configSet.replSet, configsvr: true, members: configSet.hosts },
      shards: shardSets.map((s) => ({ name: s.replSet, configsvr: false, members: s.hosts })),
      router: `mongo:${ROUTER_PORT}`,
      collections: props.collections.map((c) => ({ namespace: c.namespace, key: c.key, unique: c.unique ?? false })),
    };
    this.init(topology);

    const { network } = props;
    // Replication, the balancer (config primary → shards) and chunk migration (shard ↔ shard).
    network.allow(this.dataMembers, this.dataMembers, SHARD_PORT, CONFIG_PORT);
    network.allow(this.router, this.dataMembers, SHARD_PORT, CONFIG_PORT);
    network.allow(this.initJob, this.dataMembers, SHARD_PORT, CONFIG_PORT);
    network.allow(this.initJob, this.router, ROUTER_PORT);
  }

  /** Lets a client workload reach the routers. */
  allowClient(network: TrafficRules, client: Peer): void {
    network.allow(client, this.router, ROUTER_PORT);
  }

  private replicaSet(opts: {
    name: string;
    replSet: string;
    role: string;
    port: number;
    members: number;
    storage: string;
    cache: string;
    extraLabels: Record<string, string>;
  }) {
    const { name, port } = opts;
    const labels = { ...workloadLabels(name, 'database'), ...opts.extraLabels };
    const selector = selectorLabels(name);
    new k8s.KubeService(this, `${name}-headless`, {
      metadata: { name, namespace: this.namespace, labels },
      spec: {
        clusterIp: 'None',
        // Members must find each other before any is ready: initiation needs them all.
        publishNotReadyAddresses: true,
        selector,
        ports: [{ name: 'mongod', port, targetPort: k8s.IntOrString.fromNumber(port) }],
      },
    });
    new k8s.KubeStatefulSet(this, name, {
      metadata: { name, namespace: this.namespace, labels, annotations: IDENTICAL_PROBES_REASON },
      spec: {
        serviceName: name,
        replicas: opts.members,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels },
          spec: {
            ...podDefaults(name),
            containers: [
              {
                name: 'mongod',
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                command: [
                  'mongod',
                  opts.role,
                  '--replSet',
                  opts.replSet,
                  '--port',
                  String(port),
                  '--bind_ip_all',
                  '--dbpath',
                  '/data/db',
                  '--wiredTigerCacheSizeGB',
                  opts.cache,
                ],
                ports: [{ name: 'mongod', containerPort: port }],
                resources: resources('100m', '384Mi', '1', '768Mi'),
                securityContext: restrictedContainerSecurityContext,
                startupProbe: tcpProbe(port, { periodSeconds: 2, failureThreshold: 60 }),
                readinessProbe: tcpProbe(port, { periodSeconds: 5, failureThreshold: 3 }),
                livenessProbe: tcpProbe(port, { periodSeconds: 10, failureThreshold: 6 }),
                volumeMounts: [
                  { name: 'data', mountPath: '/data/db' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: k8s.Quantity.fromString(opts.storage) } },
            },
          },
        ],
      },
    });
    pdb(this, name, this.namespace, labels, selector);
    const hosts = Array.from({ length: opts.members }, (_, i) => `${name}-${i}.${name}.${this.namespace}.svc.cluster.local:${port}`);
    return { replSet: opts.replSet, hosts };
  }

  private routers(replicas: number, configDb: string) {
    const name = 'mongos';
    const labels = workloadLabels(name, 'database-router');
    const selector = selectorLabels(name);
    new k8s.KubeService(this, 'mongo-service', {
      metadata: { name: 'mongo', namespace: this.namespace, labels },
      spec: { selector, ports: [{ name: 'mongo', port: ROUTER_PORT, targetPort: k8s.IntOrString.fromNumber(ROUTER_PORT) }] },
    });
    new k8s.KubeDeployment(this, name, {
      metadata: { name, namespace: this.namespace, labels, annotations: IDENTICAL_PROBES_REASON },
      spec: {
        selector: { matchLabels: selector },
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) },
        },
        template: {
          metadata: { labels },
          spec: {
            ...podDefaults(name),
            containers: [
              {
                name: 'mongos',
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['mongos', '--configdb', configDb, '--bind_ip_all', '--port', String(ROUTER_PORT)],
                ports: [{ name: 'mongo', containerPort: ROUTER_PORT }],
                resources: resources('50m', '128Mi', '500m', '256Mi'),
                securityContext: restrictedContainerSecurityContext,
                startupProbe: tcpProbe(ROUTER_PORT, { periodSeconds: 2, failureThreshold: 150 }),
                readinessProbe: tcpProbe(ROUTER_PORT, { periodSeconds: 5, failureThreshold: 3 }),
                livenessProbe: tcpProbe(ROUTER_PORT, { periodSeconds: 10, failureThreshold: 6 }),
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
          },
        },
      },
    });
    pdb(this, name, this.namespace, labels, selector);
    // Routers hold no state: they scale with the services' query load.
    autoscaleCpu(this, { name, namespace: this.namespace, labels, min: replicas, max: replicas * 2 });
  }

  private init(topology: object) {
    const name = 'mongo-init';
    const labels = workloadLabels(name, 'database-init');
    const script = { 'init.js': MONGO_INIT_SCRIPT };
    new k8s.KubeConfigMap(this, 'init-script', {
      metadata: { name: `${name}-script`, namespace: this.namespace, labels },
      data: script,
    });
    const env = { MONGO_TOPOLOGY: JSON.stringify(topology) };
    // A Job's pod template is immutable: a template that changed with the script or the topology
    // (an edit, or laptop <-> ha on one cluster) made `kubectl apply` fail. The name carries the
    // hash instead, so a change is a new Job and an unchanged one re-applies as a no-op; finished
    // Jobs go after an hour, and a later apply runs the (idempotent) script again.
    new k8s.KubeJob(this, 'init-job', {
      metadata: { name: `${name}-${hashOf({ ...script, ...env }).slice(0, 10)}`, namespace: this.namespace, labels },
      spec: {
        backoffLimit: 10,
        activeDeadlineSeconds: 900,
        ttlSecondsAfterFinished: 3600,
        template: {
          metadata: { labels },
          spec: {
            ...podDefaults(name),
            restartPolicy: 'OnFailure',
            containers: [
              {
                name: 'init',
                image: this.image,
                imagePullPolicy: 'IfNotPresent',
                command: ['mongosh', '--nodb', '--quiet', '/scripts/init.js'],
                env: [
                  { name: 'MONGO_TOPOLOGY', value: env.MONGO_TOPOLOGY },
                  // mongosh keeps its logs under $HOME; the root filesystem is read-only.
                  { name: 'HOME', value: '/tmp' },
                ],
                resources: resources('100m', '192Mi', '500m', '384Mi'),
                securityContext: restrictedContainerSecurityContext,
                volumeMounts: [
                  { name: 'scripts', mountPath: '/scripts', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'scripts', configMap: { name: `${name}-script` } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });
  }
}
