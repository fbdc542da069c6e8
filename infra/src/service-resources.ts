import { Size as DataSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

/** The four Node services whose requests come from measurements. */
export type MeasuredService = 'gateway' | 'auth' | 'task' | 'analytics';

/** One service in one run of `npm run measure:resources` (scripts/measure-resources.mjs). */
export interface ServiceFigures {
  /** CPU over 30 s without traffic, millicores. */
  readonly idleMillicores: number;
  /** CPU over 30 s of the steady load, millicores. */
  readonly loadMillicores: number;
  /** Highest RSS sampled (once a second) while idle and under load, MiB. */
  readonly peakRssMiB: number;
}

/** One run: the rate the gateway served and each service's figures. */
export interface MeasurementRun {
  readonly at: string;
  /** Requests per second the gateway answered during the load window. */
  readonly rps: number;
  readonly services: Readonly<Record<MeasuredService, ServiceFigures>>;
}

/**
 * Runs of `node scripts/measure-resources.mjs` (defaults: 30 s idle, then 30 s of the `tasks`
 * scenario, 4 reads : 1 create, `--rps 100 --concurrency 8` through the gateway on 127.0.0.1),
 * each service a real process from `scripts/start.mjs` (Node v20.20.2, 2 shared AMD EPYC cores,
 * load average about 7). Figures rounded to 0.1; see docs/kubernetes.md, Requests from measurements.
 */
export const MEASUREMENTS: readonly MeasurementRun[] = [
  {
    at: '2026-12-01T10:10:30Z',
    rps: 88.8,
    services: {
      gateway: { idleMillicores: 4.7, loadMillicores: 111.9, peakRssMiB: 144.5 },
      auth: { idleMillicores: 5.3, loadMillicores: 10.9, peakRssMiB: 144.7 },
      task: { idleMillicores: 5.7, loadMillicores: 205.7, peakRssMiB: 184.6 },
      analytics: { idleMillicores: 5.3, loadMillicores: 66.0, peakRssMiB: 149.2 },
    },
  },
  {
    at: '2026-12-01T10:12:10Z',
    rps: 97.8,
    services: {
      gateway: { idleMillicores: 2.7, loadMillicores: 116.4, peakRssMiB: 177.4 },
      auth: { idleMillicores: 5.3, loadMillicores: 9.4, peakRssMiB: 142.7 },
      task: { idleMillicores: 8.0, loadMillicores: 214.4, peakRssMiB: 170.5 },
      analytics: { idleMillicores: 7.0, loadMillicores: 75.7, peakRssMiB: 135.3 },
    },
  },
];

/** The rule that turns the measurements into requests and limits. */
export interface ResourceRule {
  /** Gateway requests per second one pod of each service serves at the HPA's target. */
  readonly designRps: number;
  /** The HPA's average CPU utilization target, percent of the request. */
  readonly targetCpuUtilization: number;
  /** Idle CPU may be at most this share of the request, so the HPA never acts on an idle pod. */
  readonly maxIdleShare: number;
  /** No CPU request below this, millicores. */
  readonly minCpuMillicores: number;
  /** Memory request = peak RSS × this. */
  readonly memoryHeadroom: number;
  /** Memory limit = memory request × this. */
  readonly memoryLimitFactor: number;
  /** CPU limit, millicores: one core, what a Node process's JavaScript thread can use. */
  readonly cpuLimitMillicores: number;
}

export const RESOURCE_RULE: ResourceRule = {
  designRps: 100,
  targetCpuUtilization: 70,
  maxIdleShare: 0.1,
  minCpuMillicores: 50,
  memoryHeadroom: 1.25,
  memoryLimitFactor: 2,
  cpuLimitMillicores: 1000,
};

/** Requests and limits in plain numbers (millicores, MiB). */
export interface ServiceResourceFigures {
  readonly cpuRequestMillicores: number;
  readonly cpuLimitMillicores: number;
  readonly memoryRequestMiB: number;
  readonly memoryLimitMiB: number;
}

const roundUp = (value: number, step: number) => Math.ceil(value / step - 1e-9) * step;

/**
 * The rule, applied to the worst figure of every run (highest CPU per request, idle CPU and RSS):
 * - CPU request = CPU per request × designRps / target utilization (one pod at the design rate
 *   sits at the HPA's target), at least idle CPU / maxIdleShare and minCpuMillicores, rounded up
 *   to 10m;
 * - memory request = peak RSS × memoryHeadroom, rounded up to 16Mi; limit = request × memoryLimitFactor;
 * - CPU limit = cpuLimitMillicores.
 */
export function resourcesFromMeasurements(
  service: MeasuredService,
  runs: readonly MeasurementRun[] = MEASUREMENTS,
  rule: ResourceRule = RESOURCE_RULE,
): ServiceResourceFigures {
  if (runs.length === 0) throw new Error(`no measurement runs for ${service}`);
  const cpuPerRequest = Math.max(...runs.map((r) => r.services[service].loadMillicores / r.rps));
  const idle = Math.max(...runs.map((r) => r.services[service].idleMillicores));
  const rss = Math.max(...runs.map((r) => r.services[service].peakRssMiB));
  const atTarget = (cpuPerRequest * rule.designRps) / (rule.targetCpuUtilization / 100);
  const cpuRequestMillicores = roundUp(Math.max(atTarget, idle / rule.maxIdleShare, rule.minCpuMillicores), 10);
  const memoryRequestMiB = roundUp(rss * rule.memoryHeadroom, 16);
  return {
    cpuRequestMillicores,
    cpuLimitMillicores: Math.max(rule.cpuLimitMillicores, cpuRequestMillicores),
    memoryRequestMiB,
    memoryLimitMiB: memoryRequestMiB * rule.memoryLimitFactor,
  };
}

/** The container resources of one service, from the measurements and the rule. */
export function serviceResources(service: MeasuredService): kplus.ContainerResources {
  const r = resourcesFromMeasurements(service);
  return {
    cpu: { request: kplus.Cpu.millis(r.cpuRequestMillicores), limit: kplus.Cpu.millis(r.cpuLimitMillicores) },
    memory: { request: DataSize.mebibytes(r.memoryRequestMiB), limit: DataSize.mebibytes(r.memoryLimitMiB) },
  };
}
