import { Duration, Size as DataSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { type Peer, selectorLabels, workloadLabels } from './labels.js';
import type { TrafficRules } from './network.js';
import { restrictedContainerSecurityProps, restrictedPodSecurityProps } from './security.js';
import { pdb } from './workload-defaults.js';
import { limitEphemeralStorage, selectPods } from './http-service.js';

export interface RedisProps {
  readonly namespace: string;
  /** @default 'redis:7.4.1-alpine' */
  readonly image?: string;
  /** Memory Redis may use for data. @default 96 (MiB) */
  readonly maxMemoryMb?: number;
}

const NAME = 'redis';
const PORT = 6379;

/**
 * One Redis for the gateway's shared rate-limit counters. Not persisted: the counters live for a
 * minute, and a restart only forgets them. One replica on purpose: a second would split counters.
 */
export class Redis extends Construct implements Peer {
  readonly name = NAME;
  readonly selector = selectorLabels(NAME);
  readonly url = `redis://${NAME}:${PORT}`;

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const { namespace } = props;
    const labels = workloadLabels(NAME, 'cache');
    const maxMemory = props.maxMemoryMb ?? 96;
    const data = kplus.Volume.fromEmptyDir(this, 'data', 'data', { sizeLimit: DataSize.mebibytes(64) });
    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name: NAME, namespace, labels },
      automountToken: false,
    });
    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name: NAME, namespace, labels },
      replicas: 1,
      select: false,
      podMetadata: { labels },
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: restrictedPodSecurityProps,
      // Recreate: never two instances holding different counters at once.
      strategy: kplus.DeploymentStrategy.recreate(),
      containers: [
        {
          name: NAME,
          image: props.image ?? 'redis:7.4.1-alpine',
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          command: ['redis-server'],
          args: ['--save', '', '--appendonly', 'no', '--maxmemory', `${maxMemory}mb`, '--maxmemory-policy', 'volatile-lru'],
          ports: [{ number: PORT, name: 'redis' }],
          securityContext: restrictedContainerSecurityProps,
          resources: {
            cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
            memory: { request: DataSize.mebibytes(maxMemory + 32), limit: DataSize.mebibytes(maxMemory * 2) },
          },
          readiness: kplus.Probe.fromCommand(['redis-cli', 'ping'], {
            periodSeconds: Duration.seconds(5),
            timeoutSeconds: Duration.seconds(2),
          }),
          liveness: kplus.Probe.fromTcpSocket({ port: PORT, periodSeconds: Duration.seconds(10), timeoutSeconds: Duration.seconds(2) }),
          startup: kplus.Probe.fromTcpSocket({ port: PORT, periodSeconds: Duration.seconds(2), failureThreshold: 30 }),
          volumeMounts: [{ path: '/data', volume: data }],
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: { ...this.selector } }));
    limitEphemeralStorage(deployment, '64Mi', '256Mi');
    const service = new kplus.Service(this, 'service', {
      metadata: { name: NAME, namespace, labels },
      ports: [{ name: 'redis', port: PORT, targetPort: PORT }],
    });
    selectPods(service, this.selector);
    pdb(this, NAME, namespace, labels, { ...this.selector });
  }

  /** Lets a client workload reach Redis. */
  allowClient(network: TrafficRules, client: Peer): void {
    network.allow(client, this, PORT);
  }
}
