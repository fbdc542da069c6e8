import { Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { HttpService } from '../src/http-service.js';
import { TrafficRules } from '../src/network.js';
import type { K8sObject } from './manifests.js';

function synthService(props: Partial<ConstructorParameters<typeof HttpService>[2]> = {}) {
  const chart = Testing.chart();
  const network = new TrafficRules(chart, 'network', { namespace: 'ns' });
  const service = new HttpService(chart, 'svc', {
    namespace: 'ns',
    name: 'demo',
    image: 'example/demo:1.0.0',
    port: 4000,
    replicas: { min: 2, max: 5 },
    ...props,
  });
  return { chart, network, service, objects: Testing.synth(chart) as K8sObject[] };
}

const get = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

describe('HttpService', () => {
  it('when given only the required props, then the defaults apply: 70% CPU target, small requests, grace = pause + drain + slack', () => {
    const { objects } = synthService();
    const hpa = get(objects, 'HorizontalPodAutoscaler', 'demo');
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(70);
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas]).toEqual([2, 5]);
    const pod = get(objects, 'Deployment', 'demo').spec.template.spec;
    expect(pod.containers[0].resources.requests).toEqual({ cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' });
    expect(pod.terminationGracePeriodSeconds).toBe(5 + 5 + 10 + 5);
    expect(get(objects, 'ConfigMap', 'demo-config').data).toMatchObject({ PORT: '4000', SHUTDOWN_TIMEOUT_MS: '10000', DRAIN_MS: '5000' });
  });

  it('when props set the target, scaling behaviour and drain time, then the HPA and the pod follow them', () => {
    const { objects } = synthService({
      targetCpuUtilization: 55,
      scaleUp: {
        stabilizationWindow: Duration.seconds(15),
        policies: [{ replicas: kplus.Replicas.absolute(4), duration: Duration.seconds(20) }],
      },
      scaleDown: { stabilizationWindow: Duration.minutes(10) },
      shutdownTimeout: Duration.seconds(20),
      preStopDelay: Duration.seconds(3),
    });
    const hpa = get(objects, 'HorizontalPodAutoscaler', 'demo');
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(55);
    expect(hpa.spec.behavior.scaleUp).toMatchObject({
      stabilizationWindowSeconds: 15,
      policies: [{ type: 'Pods', value: 4, periodSeconds: 20 }],
    });
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    const pod = get(objects, 'Deployment', 'demo').spec.template.spec;
    expect(pod.containers[0].lifecycle.preStop.exec.command).toEqual(['sleep', '3']);
    expect(pod.terminationGracePeriodSeconds).toBe(3 + 5 + 20 + 5);
    expect(get(objects, 'ConfigMap', 'demo-config').data.SHUTDOWN_TIMEOUT_MS).toBe('20000');
  });

  it('when its config changes, then the pod template changes too, so the pods roll', () => {
    const a = get(synthService({ config: { FEATURE: 'a' } }).objects, 'Deployment', 'demo');
    const b = get(synthService({ config: { FEATURE: 'b' } }).objects, 'Deployment', 'demo');
    expect(a.spec.template.metadata.annotations['taskmesh.dev/config-hash']).not.toBe(
      b.spec.template.metadata.annotations['taskmesh.dev/config-hash'],
    );
  });
});

describe('TrafficRules', () => {
  it('when an edge is allowed, then the client gets an egress rule and the server an ingress rule on exactly that port', () => {
    const chart = Testing.chart();
    const network = new TrafficRules(chart, 'network', { namespace: 'ns' });
    const client = { name: 'client', selector: { app: 'client' } };
    const server = { name: 'server', selector: { app: 'server' } };
    network.allow(client, server, 5432);
    const objects = Testing.synth(chart) as K8sObject[];
    expect(get(objects, 'NetworkPolicy', 'client').spec.egress).toEqual([
      { to: [{ podSelector: { matchLabels: { app: 'server' } } }], ports: [{ protocol: 'TCP', port: 5432 }] },
    ]);
    expect(get(objects, 'NetworkPolicy', 'server').spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'TCP', port: 5432 }] },
    ]);
    expect(get(objects, 'NetworkPolicy', 'server').spec.egress).toEqual([]);
  });

  it('when two different workloads share a name, then synthesis refuses', () => {
    const chart = Testing.chart();
    const network = new TrafficRules(chart, 'network', { namespace: 'ns' });
    network.allow({ name: 'a', selector: { app: 'a' } }, { name: 'b', selector: { app: 'b' } }, 80);
    expect(() => network.allow({ name: 'a', selector: { app: 'other' } }, { name: 'b', selector: { app: 'b' } }, 80)).toThrow(
      /both called a/,
    );
  });
});
