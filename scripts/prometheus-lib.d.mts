// Types of scripts/prometheus-lib.mjs for the TypeScript tests that import it.

export const PROMETHEUS_MODULE: string;
/** The pinned Go module version, e.g. `v0.316.0`. */
export const PROMETHEUS_MODULE_VERSION: string;
/** The Prometheus release it is, e.g. `3.16.0`. */
export const PROMETHEUS_VERSION: string;
export const PROMETHEUS_HOME: string;
export const PROMETHEUS_BIN: string;
export const PROMTOOL_BIN: string;
export const PROMETHEUS_BUILD_LOG: string;

export function ensurePrometheusInstalled(opts?: { timeoutMs?: number }): Promise<{ prometheus: string; promtool: string }>;
export function promtool(args: string[], opts?: { cwd?: string; timeoutMs?: number }): Promise<{ status: number | null; output: string }>;
export function prometheusReady(url: string, timeoutMs?: number): Promise<boolean>;
export function localPrometheusFiles(opts: {
  port: number;
  services: { name: string; port: number }[];
  interval?: string;
}): Promise<{ config: object; ruleFiles: Record<string, object> }>;
export function startPrometheus(opts: {
  port?: number;
  config: object;
  ruleFiles: Record<string, object>;
  /** The pid of the process the Prometheus belongs to: another live owner's is not taken over. */
  owner?: number;
  timeoutMs?: number;
}): Promise<{ url: string; pid?: number; started: boolean; dir: string; logFile: string; address: string }>;
export function stopPrometheus(port?: number): Promise<boolean>;
