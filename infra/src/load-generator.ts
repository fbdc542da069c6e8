import fs from 'node:fs';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { selectorLabels, workloadLabels } from './labels.js';
import { restrictedContainerSecurityContext } from './security.js';
import { podDefaults, resources } from './workload-defaults.js';

export interface LoadGeneratorProps {
  readonly namespace: string;
  /** What to request. */
  readonly targetUrl: string;
  /** Port the NetworkPolicy lets the Job reach. */
  readonly targetPort: number;
  /** Selector of the target's pods. */
  readonly targetSelector: Readonly<Record<string, string>>;
  /** @default 180 */
  readonly durationSeconds?: number;
  /** Requests in flight. @default 32 */
  readonly concurrency?: number;
  /** Hard upper bound of requests. @default 2_000_000 */
  readonly maxRequests?: number;
  /** @default the services' base image: Node.js of .node-version */
  readonly image?: string;
}

const NAME = 'load-generator';
/** The services' base image (the Dockerfile's NODE_IMAGE): the Node.js release of .node-version. */
const NODE_IMAGE = `node:${fs.readFileSync(new URL('../../.node-version', import.meta.url), 'utf8').trim()}-bookworm-slim`;

/** Bounded in time and count: stops by itself and prints what it sent. */
const SCRIPT = `const target = process.env.TARGET_URL;
const deadline = Date.now() + Number(process.env.DURATION_SECONDS) * 1000;
const maxRequests = Number(process.env.MAX_REQUESTS);
const stats = { sent: 0, ok: 0, failed: 0 };
async function worker() {
  while (Date.now() < deadline && stats.sent < maxRequests) {
    stats.sent++;
    try {
      const res = await fetch(target, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.ok) stats.ok++;
      else stats.failed++;
    } catch {
      stats.failed++;
    }
  }
}
const started = Date.now();
await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY) }, worker));
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({ target, ...stats, seconds, perSecond: Math.round(stats.sent / seconds) }));
`;

/**
 * A Job that drives the gateway hard enough for its HPA to scale out, then stops. Not part of the
 * deployed stack: applied by hand (see docs/kubernetes.md).
 */
export class LoadGenerator extends Construct {
  constructor(scope: Construct, id: string, props: LoadGeneratorProps) {
    super(scope, id);
    const { namespace } = props;
    const labels = workloadLabels(NAME, 'tool');
    new k8s.KubeConfigMap(this, 'script', { metadata: { name: NAME, namespace, labels }, data: { 'load.mjs': SCRIPT } });
    new k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: { name: NAME, namespace, labels },
      spec: {
        podSelector: { matchLabels: selectorLabels(NAME) },
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ podSelector: { matchLabels: { ...props.targetSelector } } }],
            ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(props.targetPort) }],
          },
        ],
      },
    });
    new k8s.KubeJob(this, 'job', {
      metadata: { name: NAME, namespace, labels },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: (props.durationSeconds ?? 180) + 120,
        ttlSecondsAfterFinished: 600,
        template: {
          metadata: { labels },
          spec: {
            ...podDefaults(NAME),
            restartPolicy: 'Never',
            containers: [
              {
                name: NAME,
                image: props.image ?? NODE_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                command: ['node', '/scripts/load.mjs'],
                env: [
                  { name: 'TARGET_URL', value: props.targetUrl },
                  { name: 'DURATION_SECONDS', value: String(props.durationSeconds ?? 180) },
                  { name: 'CONCURRENCY', value: String(props.concurrency ?? 32) },
                  { name: 'MAX_REQUESTS', value: String(props.maxRequests ?? 2_000_000) },
                ],
                resources: resources('250m', '128Mi', '1', '256Mi'),
                securityContext: restrictedContainerSecurityContext,
                volumeMounts: [{ name: 'scripts', mountPath: '/scripts', readOnly: true }],
              },
            ],
            volumes: [{ name: 'scripts', configMap: { name: NAME } }],
          },
        },
      },
    });
  }
}
