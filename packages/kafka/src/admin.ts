import type { Admin, Kafka } from 'kafkajs';
import { topicDefaultsOf, type TopicDefaults } from './client.js';

export interface TopicSpec {
  readonly topic: string;
  /** @default 3 */
  readonly numPartitions?: number;
  /** @default the client's `topicDefaults` (createKafka), else the cluster's `default.replication.factor` */
  readonly replicationFactor?: number;
  /** The topic's `min.insync.replicas`. @default the client's `topicDefaults`, else the cluster's `min.insync.replicas` */
  readonly minInsyncReplicas?: number;
  /** Extra topic configs, e.g. `{ 'retention.ms': '604800000' }`. */
  readonly config?: Record<string, string>;
}

/** kafkajs' `ConfigResourceTypes.BROKER`: Node's ES module loader does not see that named export of the CommonJS build. */
const BROKER_RESOURCE = 4;

/**
 * The replication a new topic gets when neither it nor the client says: the brokers' own
 * `default.replication.factor` and `min.insync.replicas`, as the cluster is configured (1 and 1
 * on one local broker, 3 and 2 in the `ha` profile). kafkajs speaks CreateTopics v3, which has
 * no "broker default" (-1) replication factor, so the values are read and sent explicitly: with
 * a hard-coded 1, producers writing with `acks: -1` would be refused every write
 * (NOT_ENOUGH_REPLICAS) on a cluster that requires two in-sync replicas.
 */
export async function clusterTopicDefaults(admin: Admin): Promise<TopicDefaults> {
  const resources = await describeBrokerConfigs(admin);
  const value = (name: string) => Number(resources[0]?.configEntries.find((e) => e.configName === name)?.configValue ?? '1');
  // Not lowered to the brokers seen now: a topic created under-replicated stays so; too few
  // brokers fails the creation (INVALID_REPLICATION_FACTOR), and the start with it.
  const replicationFactor = value('default.replication.factor');
  return { replicationFactor, minInsyncReplicas: Math.min(value('min.insync.replicas'), replicationFactor) };
}

/**
 * One broker's `default.replication.factor` and `min.insync.replicas`. A describeConfigs of a
 * broker goes to that broker, found in kafkajs' cached metadata, which right after a cluster
 * starts may not list every broker that describeCluster already does (KafkaJSBrokerNotFound):
 * each listed broker is asked in turn, and the round repeated a bounded number of times.
 */
async function describeBrokerConfigs(admin: Admin, rounds = 10) {
  for (let round = 1; ; round++) {
    const { brokers } = await admin.describeCluster();
    if (brokers.length === 0) throw new Error('the cluster reports no brokers');
    for (const broker of brokers) {
      try {
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: BROKER_RESOURCE, name: String(broker.nodeId), configNames: ['default.replication.factor', 'min.insync.replicas'] }],
        });
        return resources;
      } catch (err) {
        if ((err as Error).name !== 'KafkaJSBrokerNotFound') throw err;
      }
    }
    if (round >= rounds) throw new Error(`none of the brokers ${brokers.map((b) => b.nodeId).join(', ')} is in the client's metadata yet`);
    await new Promise((resolve) => setTimeout(resolve, 300 * round));
  }
}

/**
 * Creates the topics that do not exist yet and waits for their leaders. Brokers run with
 * automatic topic creation off, so each service owns the creation of the topics it produces to
 * and consumes from. Replication comes from the spec, else the client's `topicDefaults`, else
 * the cluster's configuration ({@link clusterTopicDefaults}).
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return [];
    const defaults = topicDefaultsOf(kafka) ?? (await clusterTopicDefaults(admin));
    await admin.createTopics({
      // Waited for below: kafkajs' own wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a
      // multi-broker cluster answers until every broker has the new topic's metadata.
      waitForLeaders: false,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.numPartitions ?? 3,
        replicationFactor: s.replicationFactor ?? defaults.replicationFactor,
        configEntries: Object.entries({ 'min.insync.replicas': String(s.minInsyncReplicas ?? defaults.minInsyncReplicas), ...s.config }).map(
          ([name, value]) => ({ name, value }),
        ),
      })),
    });
    await waitForLeaders(admin, missing.map((s) => s.topic));
    return missing.map((s) => s.topic);
  } catch (err) {
    // Another replica may have created the same topics between our list and create.
    if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') return [];
    throw err;
  } finally {
    await admin.disconnect();
  }
}

/** Polls the topics' metadata until every partition has a leader, for at most `timeoutMs`. */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      if (meta.length === topics.length && meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leader after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A metadata round trip to the cluster, for readiness checks. */
export async function pingKafka(kafka: Kafka): Promise<void> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('the cluster reports no brokers');
  } finally {
    await admin.disconnect();
  }
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** High-water mark minus the group's committed offset. */
  lag: number;
}

/** How far a consumer group is behind, per partition. */
export async function consumerLag(kafka: Kafka, groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: PartitionLag[] = [];
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    for (const { topic, partitions } of committed) {
      const ends = await admin.fetchTopicOffsets(topic);
      for (const p of partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        if (!end) continue;
        const high = Number(end.high);
        const at = Number(p.offset) < 0 ? Number(end.low) : Number(p.offset);
        out.push({ topic, partition: p.partition, lag: Math.max(0, high - at) });
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}
