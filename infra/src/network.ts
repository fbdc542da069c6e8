import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { Peer } from './labels.js';

/** One permitted connection, as seen from both ends. */
interface Edge {
  readonly from: Peer | 'anywhere';
  readonly to: Peer | 'anywhere';
  readonly ports: readonly number[];
}

export interface TrafficRulesProps {
  readonly namespace: string;
}

/**
 * The namespace's NetworkPolicies: a default deny for both directions, DNS for every pod, and
 * then one policy per workload holding exactly the edges declared with `allow`. Each edge is
 * written on both ends (egress of the client, ingress of the server), so that neither side is
 * open wider than the design says.
 */
export class TrafficRules extends Construct {
  private readonly edges: Edge[] = [];
  private readonly policies = new Map<string, Peer>();
  private readonly namespace: string;

  constructor(scope: Construct, id: string, props: TrafficRulesProps) {
    super(scope, id);
    this.namespace = props.namespace;
    new k8s.KubeNetworkPolicy(this, 'default-deny', {
      metadata: { name: 'default-deny', namespace: this.namespace },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    new k8s.KubeNetworkPolicy(this, 'allow-dns', {
      metadata: { name: 'allow-dns', namespace: this.namespace },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'UDP', port: k8s.IntOrString.fromNumber(53) },
              { protocol: 'TCP', port: k8s.IntOrString.fromNumber(53) },
            ],
          },
        ],
      },
    });
  }

  /** Lets `from` open TCP connections to `to` on `ports`. */
  allow(from: Peer, to: Peer, ...ports: number[]): void {
    this.add({ from, to, ports });
  }

  /** Lets any client reach `to` on `ports` (the front door, dashboards people open). */
  allowFromAnywhere(to: Peer, ...ports: number[]): void {
    this.add({ from: 'anywhere', to, ports });
  }

  /** Lets `from` reach any address on `ports` (the Kubernetes API, whose address kind decides). */
  allowToAnywhere(from: Peer, ...ports: number[]): void {
    this.add({ from, to: 'anywhere', ports });
  }

  private add(edge: Edge): void {
    if (edge.ports.length === 0) throw new Error('a traffic rule needs at least one port');
    this.edges.push(edge);
    if (edge.from !== 'anywhere') this.ensurePolicy(edge.from);
    if (edge.to !== 'anywhere') this.ensurePolicy(edge.to);
  }

  private ensurePolicy(peer: Peer): void {
    const known = this.policies.get(peer.name);
    if (known) {
      if (!sameSelector(known, peer)) throw new Error(`two different workloads are both called ${peer.name}`);
      return;
    }
    this.policies.set(peer.name, peer);
    const ingress = () => this.edges.filter((e) => e.to !== 'anywhere' && e.to.name === peer.name);
    const egress = () => this.edges.filter((e) => e.from !== 'anywhere' && e.from.name === peer.name);
    new k8s.KubeNetworkPolicy(this, `policy-${peer.name}`, {
      metadata: { name: peer.name, namespace: this.namespace },
      spec: {
        podSelector: { matchLabels: { ...peer.selector } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: Lazy.any({
          produce: () =>
            ingress().map((e) => ({
              ...(e.from === 'anywhere' ? {} : { from: [{ podSelector: { matchLabels: { ...e.from.selector } } }] }),
              ports: tcp(e.ports),
            })),
        }),
        egress: Lazy.any({
          produce: () =>
            egress().map((e) => ({
              ...(e.to === 'anywhere' ? {} : { to: [{ podSelector: { matchLabels: { ...e.to.selector } } }] }),
              ports: tcp(e.ports),
            })),
        }),
      },
    });
  }
}

function sameSelector(a: Peer, b: Peer): boolean {
  return JSON.stringify(Object.entries(a.selector).sort()) === JSON.stringify(Object.entries(b.selector).sort());
}

/** Ports as the typed serializer wants them: a bare number would be dropped, opening all ports. */
function tcp(ports: readonly number[]): k8s.NetworkPolicyPort[] {
  return ports.map((port) => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) }));
}
