// Types of scripts/infra-lib.mjs for the TypeScript tests and benchmarks that import it.

/** The checkout's root folder. */
export const ROOT: string;
/** Downloads and builds, kept across runs and clones (`TASKMESH_CACHE_DIR`). */
export const CACHE_DIR: string;
/** Throw-away server data (`TASKMESH_DATA_DIR`). */
export const DATA_DIR: string;
export const KAFKA_VERSION: string;
export const SECANTUS_VERSION: string;
export const DEFAULTS: { readonly redisUrl: string; readonly kafkaBrokers: string; readonly mongodbUri: string };

export class InfraError extends Error {
  constructor(component: string, message: string, logFile?: string);
  readonly component: string;
}

/** One managed server: a detached process with a pid file and a log file under its data folder. */
export interface Instance {
  readonly name: string;
  readonly component: string;
  readonly dir: string;
  readonly pidFile: string;
  readonly logFile: string;
  /** `127.0.0.1:<port>` */
  readonly address: string;
}

/** A server as a start function left it: ours (with its pid) or something else already answering there. */
export interface Started extends Instance {
  readonly pid: number | undefined;
  /** Launched by this call (false: it was already running). */
  readonly started: boolean;
  /** Something not managed here answers on the address; it is used as it is and never stopped. */
  readonly external?: true;
}

export interface StartOptions {
  readonly port?: number;
  readonly timeoutMs?: number;
}

export interface StackConfig {
  readonly redisUrl: string;
  readonly kafkaBrokers: string;
  readonly mongodbUri: string;
}

export interface StatusRow {
  readonly name: string;
  readonly where: string;
  readonly healthy: boolean;
  readonly pid: number | undefined;
}

/** A free TCP port on 127.0.0.1, for private test instances. */
export function freePort(): Promise<number>;
export function redisPing(port: number, host?: string, timeoutMs?: number): Promise<boolean>;
export function kafkaMetadataOk(brokers: string, timeoutMs?: number): Promise<boolean>;
export function mongoPing(uri: string, timeoutMs?: number): Promise<boolean>;

export function processAlive(pid: number): boolean;
/** Time since `t0` as people read it: `42s`, `3m07s`. */
export function elapsed(t0: number): string;
/** Runs `build` as the only builder of one cache entry (a lock folder holding the builder's pid); others wait for `done()`. */
export function buildOnce(
  lockPath: string,
  opts: { component: string; done: () => boolean; build: () => Promise<void>; timeoutMs: number; logFile?: string },
): Promise<void>;
/** A program from Debian's packages: on PATH, else installed with apt-get when root, else a clear error. */
export function ensureDebianPackage(component: string, pkg: string, binary?: string): string;
export function ensureRedisInstalled(): string;
export function ensureKafkaInstalled(): string;
export function ensureMongoInstalled(opts?: { timeoutMs?: number }): Promise<string>;

export function startRedis(opts?: StartOptions): Promise<Started & { readonly url: string }>;
export function startKafka(opts?: StartOptions & { readonly controllerPort?: number }): Promise<Started & { readonly brokers: string }>;
/** A single-node MongoDB-wire server (one-member replica set: transactions and change streams work). */
export function startMongo(opts?: StartOptions): Promise<Started & { readonly uri: string }>;
/** Stops a managed instance and, unless `keepData`, removes its data folder; true when it was running. */
export function stopInstance(inst: Instance, opts?: { keepData?: boolean }): Promise<boolean>;

export function kafkaClusterId(): string;
export function stackConfig(env?: NodeJS.ProcessEnv): StackConfig;
export function up(env?: NodeJS.ProcessEnv): Promise<StackConfig>;
export function down(): Promise<string[]>;
export function status(env?: NodeJS.ProcessEnv): Promise<StatusRow[]>;
