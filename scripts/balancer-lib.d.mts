// Types of scripts/balancer-lib.mjs for the TypeScript tests.

export interface Balancer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** haproxy's admin socket. */
  readonly socket: string;
  /** The backend's name in haproxy's configuration (`<name>_pods`). */
  readonly backend: string;
  /** Takes a backend out: no new connections go to it; established ones stay (as kube-proxy). */
  remove(server: string): Promise<void>;
  add(server: string): Promise<void>;
  servers(): Promise<Record<string, 'ready' | 'maint'>>;
  stop(): Promise<void>;
}

export function ensureHaproxyInstalled(): string;
export function startBalancer(opts: {
  name: string;
  backends: readonly { name: string; port: number }[];
  port?: number;
  timeoutMs?: number;
}): Promise<Balancer>;

export const WORKSPACES: Record<'gateway' | 'auth' | 'task' | 'analytics', string>;
export function spawnService(opts: {
  service: 'gateway' | 'auth' | 'task' | 'analytics';
  port: number;
  env: Record<string, string>;
  logFile: string;
  root: string;
  detached?: boolean;
}): import('node:child_process').ChildProcess;
export function waitHttpOk(url: string, opts?: { timeoutMs?: number; isAlive?: () => boolean }): Promise<void>;
export function terminate(pid: number, timeoutMs?: number): Promise<boolean>;
export function restartBehindBalancer(fleetFile: string, server: string, log?: (line: string) => void): Promise<{ clean: boolean; pid: number }>;
