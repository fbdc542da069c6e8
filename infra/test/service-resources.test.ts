import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MEASUREMENTS,
  type MeasuredService,
  type MeasurementRun,
  RESOURCE_RULE,
  resourcesFromMeasurements,
} from '../src/service-resources.js';
import { bytes, find, K8S, loadObjects, milliCpu } from './manifests.js';

const SERVICES: readonly MeasuredService[] = ['gateway', 'auth', 'task', 'analytics'];
const worst = (service: MeasuredService) => ({
  cpuPerRequest: Math.max(...MEASUREMENTS.map((r) => r.services[service].loadMillicores / r.rps)),
  idle: Math.max(...MEASUREMENTS.map((r) => r.services[service].idleMillicores)),
  rss: Math.max(...MEASUREMENTS.map((r) => r.services[service].peakRssMiB)),
});

describe('requests from measurements', () => {
  it.each(SERVICES)('when %s is sized by the rule, then its HPA target is met at the design rate and idle stays far below it', (service) => {
    const r = resourcesFromMeasurements(service);
    const m = worst(service);
    const atDesignRate = (m.cpuPerRequest * RESOURCE_RULE.designRps) / r.cpuRequestMillicores;
    // At the design rate a pod is at (or just under, by rounding) the HPA's target.
    expect(atDesignRate).toBeLessThanOrEqual(RESOURCE_RULE.targetCpuUtilization / 100);
    // An idle pod uses at most a tenth of its request: the HPA never scales on idle.
    expect(m.idle / r.cpuRequestMillicores).toBeLessThanOrEqual(RESOURCE_RULE.maxIdleShare);
    expect(r.memoryRequestMiB).toBeGreaterThanOrEqual(m.rss * RESOURCE_RULE.memoryHeadroom);
    expect(r.memoryLimitMiB).toBeGreaterThan(r.memoryRequestMiB);
    expect(r.cpuLimitMillicores).toBeGreaterThanOrEqual(r.cpuRequestMillicores);
  });

  it('when the rule is given other figures, then the busiest run and the floors decide', () => {
    const figures = (loadMillicores: number, idleMillicores: number, peakRssMiB: number) => ({ idleMillicores, loadMillicores, peakRssMiB });
    const run = (rps: number, load: number, idle: number, rss: number): MeasurementRun => ({
      at: 'test',
      rps,
      services: { gateway: figures(load, idle, rss), auth: figures(1, 1, 1), task: figures(1, 1, 1), analytics: figures(1, 1, 1) },
    });
    // 140m at 100 rps / 0.70 = 200m; the other run costs less per request.
    expect(resourcesFromMeasurements('gateway', [run(100, 140, 1, 100), run(100, 70, 1, 100)])).toEqual({
      cpuRequestMillicores: 200,
      cpuLimitMillicores: 1000,
      memoryRequestMiB: 128,
      memoryLimitMiB: 256,
    });
    // Busy at idle: the request is ten times the idle CPU.
    expect(resourcesFromMeasurements('gateway', [run(100, 14, 30, 100)]).cpuRequestMillicores).toBe(300);
    // Almost nothing to do: the floor.
    expect(resourcesFromMeasurements('gateway', [run(100, 1, 1, 100)]).cpuRequestMillicores).toBe(RESOURCE_RULE.minCpuMillicores);
    expect(() => resourcesFromMeasurements('gateway', [])).toThrow(/no measurement runs/);
  });

  it.each(['laptop', 'ha'])('when the %s stack is synthesized, then each service container carries the measured requests and the HPA the rule\'s target', (size) => {
    const objects = loadObjects(path.join(K8S, size));
    for (const service of SERVICES) {
      const r = resourcesFromMeasurements(service);
      const container = find(objects, 'Deployment', service).spec.template.spec.containers[0];
      expect(milliCpu(container.resources.requests.cpu), service).toBe(r.cpuRequestMillicores);
      expect(milliCpu(container.resources.limits.cpu), service).toBe(r.cpuLimitMillicores);
      expect(bytes(container.resources.requests.memory), service).toBe(r.memoryRequestMiB * 2 ** 20);
      expect(bytes(container.resources.limits.memory), service).toBe(r.memoryLimitMiB * 2 ** 20);
      const hpa = find(objects, 'HorizontalPodAutoscaler', service);
      expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(RESOURCE_RULE.targetCpuUtilization);
    }
  });
});
