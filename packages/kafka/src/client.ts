import type { Registry } from 'prom-client';
import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type Logger as KafkaLogger } from 'kafkajs';
import { fixIdleRequestQueueTimer } from './request-queue-fix.js';

fixIdleRequestQueueTimer();

/** The part of a pino logger this package uses. */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface KafkaSettings {
  /** `host:port` of one or more brokers. */
  readonly brokers: readonly string[];
  /** Shows in broker logs and quotas. */
  readonly clientId: string;
  /** @default 3000 */
  readonly connectionTimeoutMs?: number;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
  /** Where kafkajs' own warnings and errors go. */
  readonly log?: Log;
  /** Attempts for a failed request before giving up. @default 5 */
  readonly retries?: number;
  /**
   * The Prometheus registry (`app.metrics`) that producers and consumers made from this client
   * count into, unless they are given their own.
   */
  readonly metrics?: Registry;
  /**
   * How `ensureTopics` creates topics with this client unless a topic says otherwise.
   * @default the cluster's own `default.replication.factor` and `min.insync.replicas`
   */
  readonly topicDefaults?: TopicDefaults;
}

export interface TopicDefaults {
  readonly replicationFactor: number;
  /** The topic's `min.insync.replicas`; at most `replicationFactor`. */
  readonly minInsyncReplicas: number;
}

const registries = new WeakMap<Kafka, Registry>();
const topicDefaults = new WeakMap<Kafka, TopicDefaults>();

/** The topic defaults given to {@link createKafka} for this client, if any. */
export function topicDefaultsOf(kafka: Kafka): TopicDefaults | undefined {
  return topicDefaults.get(kafka);
}

/** The registry given to {@link createKafka} for this client, if any. */
export function registryOf(kafka: Kafka): Registry | undefined {
  return registries.get(kafka);
}

/**
 * The one place that constructs the client library: the rest of the code sees this package's
 * API, so replacing kafkajs (unmaintained since 2023) touches only this package.
 */
export function createKafka(settings: KafkaSettings): Kafka {
  const log = settings.log;
  const logCreator = () => (entry: LogEntry) => {
    if (!log) return;
    const { message, ...rest } = entry.log;
    const obj = { kafka: entry.namespace, ...rest };
    if (entry.level <= KafkaLogLevel.ERROR) log.error(obj, message);
    else if (entry.level === KafkaLogLevel.WARN) log.warn(obj, message);
    else log.debug(obj, message);
  };
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    connectionTimeout: settings.connectionTimeoutMs ?? 3000,
    requestTimeout: settings.requestTimeoutMs ?? 10_000,
    logLevel: KafkaLogLevel.WARN,
    logCreator,
    retry: { retries: settings.retries ?? 5, initialRetryTime: 200, maxRetryTime: 5000 },
  });
  if (settings.metrics) registries.set(kafka, settings.metrics);
  if (settings.topicDefaults) {
    const { replicationFactor, minInsyncReplicas } = settings.topicDefaults;
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || !Number.isInteger(minInsyncReplicas) || minInsyncReplicas < 1 || minInsyncReplicas > replicationFactor) {
      throw new Error(`topic defaults: replication factor ${replicationFactor} and min.insync.replicas ${minInsyncReplicas} must be whole numbers with 1 <= min.insync.replicas <= replication factor`);
    }
    topicDefaults.set(kafka, settings.topicDefaults);
  }
  return kafka;
}

export type { Kafka, KafkaLogger };
