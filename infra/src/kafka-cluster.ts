import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { hashOf } from './http-service.js';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import type { TrafficRules } from './network.js';
import { restrictedContainerSecurityContext } from './security.js';
import { pdb, podDefaults, resources, tcpProbe } from './workload-defaults.js';

export interface KafkaClusterProps {
  readonly namespace: string;
  readonly network: TrafficRules;
  /** Nodes; each is both broker and KRaft controller. */
  readonly nodes: number;
  /** Volume of each node. */
  readonly storage: string;
  /** @default 'apache/kafka:3.9.1' */
  readonly image?: string;
  /**
   * KRaft cluster id (22 characters of base64url). Fixed, so that synthesis is deterministic and a
   * restarted node keeps its formatted log directory.
   * @default a constant of this project
   */
  readonly clusterId?: string;
  /** JVM heap of each node. @default '-Xms384m -Xmx384m' */
  readonly heapOpts?: string;
}

const CLIENT_PORT = 9092;
const CONTROLLER_PORT = 9093;
const NAME = 'kafka';

/**
 * Apache Kafka in KRaft mode as a StatefulSet: every node is broker and controller, voters are the
 * pods of the headless Service, and clients bootstrap through the `kafka` Service. Topic
 * auto-creation is off: the services create their topics.
 */
export class KafkaCluster extends Construct implements Peer {
  readonly name = NAME;
  readonly selector = selectorLabels(NAME);
  /** Bootstrap servers for the services. */
  readonly bootstrapServers = `${NAME}:${CLIENT_PORT}`;

  constructor(scope: Construct, id: string, props: KafkaClusterProps) {
    super(scope, id);
    const { namespace, nodes } = props;
    const headless = `${NAME}-headless`;
    const labels = workloadLabels(NAME, 'message-broker');
    const podHost = (i: number) => `${NAME}-${i}.${headless}.${namespace}.svc.cluster.local`;
    const replication = Math.min(3, nodes);
    const minIsr = Math.max(1, replication - 1);

    // Shared settings; the start script appends what differs per node.
    const serverProperties = [
      'process.roles=broker,controller',
      `controller.quorum.voters=${Array.from({ length: nodes }, (_, i) => `${i}@${podHost(i)}:${CONTROLLER_PORT}`).join(',')}`,
      `listeners=PLAINTEXT://:${CLIENT_PORT},CONTROLLER://:${CONTROLLER_PORT}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'log.dirs=/var/lib/kafka/data/kraft',
      'num.partitions=6',
      `default.replication.factor=${replication}`,
      `min.insync.replicas=${minIsr}`,
      `offsets.topic.replication.factor=${replication}`,
      `transaction.state.log.replication.factor=${replication}`,
      `transaction.state.log.min.isr=${minIsr}`,
      'auto.create.topics.enable=false',
      'group.initial.rebalance.delay.ms=0',
      'log.retention.hours=72',
      '',
    ].join('\n');
    // The image's own launcher writes into /opt/kafka/config, which a read-only root filesystem
    // forbids; this script writes the node's configuration to /tmp instead and execs the broker.
    const startScript = [
      '#!/bin/sh',
      'set -eu',
      'id="${HOSTNAME##*-}"',
      'cp /etc/kafka-config/server.properties /tmp/server.properties',
      'echo "node.id=${id}" >> /tmp/server.properties',
      `echo "advertised.listeners=PLAINTEXT://\${HOSTNAME}.${headless}.\${POD_NAMESPACE}.svc.cluster.local:${CLIENT_PORT}" >> /tmp/server.properties`,
      '/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c /tmp/server.properties',
      'exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties',
      '',
    ].join('\n');
    // Everything to the console, where `kubectl logs` and the node's log rotation find it: the
    // image's own log4j.properties writes five files under LOG_DIR, which fill the /tmp emptyDir.
    const log4jProperties = [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.request.logger=WARN',
      'log4j.logger.org.apache.zookeeper=WARN',
      '',
    ].join('\n');
    const data = { 'server.properties': serverProperties, 'start.sh': startScript, 'log4j.properties': log4jProperties };
    new k8s.KubeConfigMap(this, 'config', { metadata: { name: `${NAME}-config`, namespace, labels }, data });

    new k8s.KubeService(this, 'headless', {
      metadata: { name: headless, namespace, labels },
      spec: {
        clusterIp: 'None',
        // Controllers must reach each other to form the quorum before any is ready.
        publishNotReadyAddresses: true,
        selector: this.selector,
        ports: [
          { name: 'client', port: CLIENT_PORT, targetPort: k8s.IntOrString.fromNumber(CLIENT_PORT) },
          { name: 'controller', port: CONTROLLER_PORT, targetPort: k8s.IntOrString.fromNumber(CONTROLLER_PORT) },
        ],
      },
    });
    new k8s.KubeService(this, 'bootstrap', {
      metadata: { name: NAME, namespace, labels },
      spec: {
        selector: this.selector,
        ports: [{ name: 'client', port: CLIENT_PORT, targetPort: k8s.IntOrString.fromNumber(CLIENT_PORT) }],
      },
    });

    new k8s.KubeStatefulSet(this, 'statefulset', {
      metadata: { name: NAME, namespace, labels },
      spec: {
        serviceName: headless,
        replicas: nodes,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: this.selector },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels, annotations: { 'taskmesh.dev/config-hash': hashOf(data) } },
          spec: {
            ...podDefaults(NAME),
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'kafka',
                image: props.image ?? 'apache/kafka:3.9.1',
                imagePullPolicy: 'IfNotPresent',
                command: ['sh', '/etc/kafka-config/start.sh'],
                env: [
                  { name: 'CLUSTER_ID', value: props.clusterId ?? '6eufjrhNNW8UAVpqWxYbMA' },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'KAFKA_HEAP_OPTS', value: props.heapOpts ?? '-Xms384m -Xmx384m' },
                  // kafka-run-class.sh creates LOG_DIR (next to the binaries unless told otherwise)
                  // even when nothing is written there.
                  { name: 'LOG_DIR', value: '/tmp/kafka-logs' },
                  { name: 'KAFKA_LOG4J_OPTS', value: '-Dlog4j.configuration=file:/etc/kafka-config/log4j.properties' },
                  // kafka-server-start.sh's default adds -loggc, a GC log file under LOG_DIR.
                  { name: 'EXTRA_ARGS', value: '-name kafkaServer' },
                ],
                ports: [
                  { name: 'client', containerPort: CLIENT_PORT },
                  { name: 'controller', containerPort: CONTROLLER_PORT },
                ],
                resources: resources('200m', '640Mi', '1', '1Gi', { request: '128Mi', limit: '1Gi' }),
                securityContext: restrictedContainerSecurityContext,
                startupProbe: tcpProbe(CLIENT_PORT, { periodSeconds: 3, failureThreshold: 60 }),
                readinessProbe: tcpProbe(CLIENT_PORT, { periodSeconds: 5, failureThreshold: 3 }),
                // Readiness is the client listener; liveness the controller one, which stays up
                // while a broker is busy or catching up.
                livenessProbe: tcpProbe(CONTROLLER_PORT, { periodSeconds: 10, failureThreshold: 6 }),
                volumeMounts: [
                  { name: 'data', mountPath: '/var/lib/kafka/data' },
                  { name: 'config', mountPath: '/etc/kafka-config', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: `${NAME}-config` } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: k8s.Quantity.fromString(props.storage) } },
            },
          },
        ],
      },
    });
    pdb(this, NAME, namespace, labels, this.selector);
    props.network.allow(this, this, CLIENT_PORT, CONTROLLER_PORT);
  }

  /** Lets a client workload produce and consume. */
  allowClient(network: TrafficRules, client: Peer): void {
    network.allow(client, this, CLIENT_PORT);
  }
}
