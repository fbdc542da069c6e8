import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './security.js';
import { pdb, resources } from './workload-defaults.js';

export interface MetricsServerProps {
  /** @default 'registry.k8s.io/metrics-server/metrics-server:v0.7.2' */
  readonly image?: string;
}

const NAMESPACE = 'kube-system';
const NAME = 'metrics-server';
const PORT = 10250;

/**
 * metrics-server as its upstream manifest installs it, plus `--kubelet-insecure-tls`: kind's
 * kubelets serve self-signed certificates, and without this flag no HPA ever gets a CPU reading.
 */
export class MetricsServer extends Construct {
  constructor(scope: Construct, id: string, props: MetricsServerProps = {}) {
    super(scope, id);
    const labels = { 'k8s-app': NAME, 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/part-of': 'taskmesh' };
    const selector = { 'k8s-app': NAME };
    const subject = { kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE };

    new k8s.KubeServiceAccount(this, 'service-account', { metadata: { name: NAME, namespace: NAMESPACE, labels } });
    new k8s.KubeClusterRole(this, 'aggregated-reader', {
      metadata: {
        name: 'system:aggregated-metrics-reader',
        labels: {
          ...labels,
          'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
          'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
          'rbac.authorization.k8s.io/aggregate-to-view': 'true',
        },
      },
      rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
    });
    new k8s.KubeClusterRole(this, 'cluster-role', {
      metadata: { name: 'system:metrics-server', labels },
      rules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'auth-reader', {
      metadata: { name: 'metrics-server-auth-reader', namespace: NAMESPACE, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects: [subject],
    });
    new k8s.KubeClusterRoleBinding(this, 'auth-delegator', {
      metadata: { name: 'metrics-server:system:auth-delegator', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [subject],
    });
    new k8s.KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name: 'system:metrics-server', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:metrics-server' },
      subjects: [subject],
    });
    new k8s.KubeService(this, 'service', {
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: { selector, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: k8s.IntOrString.fromString('https') }] },
    });
    new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        strategy: { rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            // The one token it needs: it reads nodes and authenticates API server requests.
            automountServiceAccountToken: true,
            priorityClassName: 'system-cluster-critical',
            securityContext: restrictedPodSecurityContext,
            containers: [
              {
                name: NAME,
                image: props.image ?? 'registry.k8s.io/metrics-server/metrics-server:v0.7.2',
                imagePullPolicy: 'IfNotPresent',
                args: [
                  '--cert-dir=/tmp',
                  `--secure-port=${PORT}`,
                  '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
                  '--kubelet-use-node-status-port',
                  '--metric-resolution=15s',
                  '--kubelet-insecure-tls',
                ],
                ports: [{ name: 'https', containerPort: PORT, protocol: 'TCP' }],
                readinessProbe: {
                  httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
                  initialDelaySeconds: 20,
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                livenessProbe: {
                  httpGet: { path: '/livez', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
                  periodSeconds: 10,
                  failureThreshold: 3,
                },
                resources: resources('100m', '200Mi', '500m', '400Mi'),
                securityContext: restrictedContainerSecurityContext,
                volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }],
              },
            ],
            volumes: [{ name: 'tmp-dir', emptyDir: {} }],
          },
        },
      },
    });
    pdb(this, NAME, NAMESPACE, labels, selector);
    // kube-system has no default deny, but the one pod added there is fenced in all the same:
    // the API server calls it on its port; it calls the kubelets and the API server.
    new k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(PORT) }] }],
        egress: [
          {
            ports: [
              { protocol: 'TCP', port: k8s.IntOrString.fromNumber(PORT) },
              { protocol: 'TCP', port: k8s.IntOrString.fromNumber(443) },
              { protocol: 'TCP', port: k8s.IntOrString.fromNumber(6443) },
            ],
          },
          {
            to: [{ podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
            ports: [
              { protocol: 'UDP', port: k8s.IntOrString.fromNumber(53) },
              { protocol: 'TCP', port: k8s.IntOrString.fromNumber(53) },
            ],
          },
        ],
      },
    });
    new k8s.KubeApiService(this, 'api-service', {
      metadata: { name: 'v1beta1.metrics.k8s.io', labels },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        insecureSkipTlsVerify: true,
        service: { name: NAME, namespace: NAMESPACE },
      },
    });
  }
}
