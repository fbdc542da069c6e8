import { k8s } from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { selectorLabels } from './labels.js';
import { restrictedPodSecurityContext } from './security.js';

/** Pod settings shared by every raw (L1) pod spec of the platform. */
export function podDefaults(
  name: string,
): Pick<
  k8s.PodSpec,
  'securityContext' | 'automountServiceAccountToken' | 'enableServiceLinks' | 'affinity' | 'terminationGracePeriodSeconds'
> {
  return {
    securityContext: restrictedPodSecurityContext,
    automountServiceAccountToken: false,
    // Service links put one variable per Service into every container; nothing reads them.
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 30,
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(name) } },
          },
        ],
      },
    },
  };
}

/**
 * Requests and limits of a container. Ephemeral storage is bounded too: emptyDirs and container
 * logs count against it, and an unbounded one can fill a laptop's disk.
 */
export function resources(
  cpuRequest: string,
  memoryRequest: string,
  cpuLimit: string,
  memoryLimit: string,
  ephemeral: { request: string; limit: string } = { request: '64Mi', limit: '512Mi' },
): k8s.ResourceRequirements {
  const q = (v: string) => k8s.Quantity.fromString(v);
  return {
    requests: { cpu: q(cpuRequest), memory: q(memoryRequest), 'ephemeral-storage': q(ephemeral.request) },
    limits: { cpu: q(cpuLimit), memory: q(memoryLimit), 'ephemeral-storage': q(ephemeral.limit) },
  };
}

export function tcpProbe(port: number, opts: { periodSeconds: number; failureThreshold: number }): k8s.Probe {
  return { tcpSocket: { port: k8s.IntOrString.fromNumber(port) }, timeoutSeconds: 2, ...opts };
}

/** A PodDisruptionBudget letting one pod go at a time. */
export function pdb(scope: Construct, name: string, namespace: string, labels: Record<string, string>, selector: Record<string, string>) {
  return new k8s.KubePodDisruptionBudget(scope, `${name}-pdb`, {
    metadata: { name, namespace, labels },
    // Unhealthy pods may always be evicted: a crash-looping pod must not block a node drain.
    spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), unhealthyPodEvictionPolicy: 'AlwaysAllow', selector: { matchLabels: selector } },
  });
}

/** An autoscaling/v2 HPA on average CPU utilization for a Deployment written as a raw object. */
export function autoscaleCpu(
  scope: Construct,
  opts: { name: string; namespace: string; labels: Record<string, string>; min: number; max: number; cpuUtilization?: number },
) {
  return new k8s.KubeHorizontalPodAutoscalerV2(scope, `${opts.name}-hpa`, {
    metadata: { name: opts.name, namespace: opts.namespace, labels: opts.labels },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: opts.name },
      minReplicas: opts.min,
      maxReplicas: opts.max,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: opts.cpuUtilization ?? 70 } } },
      ],
    },
  });
}
