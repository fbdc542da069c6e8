import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  readonly topic: string;
  /** @default 3 */
  readonly numPartitions?: number;
  /** @default 1 */
  readonly replicationFactor?: number;
  /** Extra topic configs, e.g. `{ 'retention.ms': '604800000' }`. */
  readonly config?: Record<string, string>;
}

/**
 * Creates the topics that do not exist yet and waits for their leaders. Brokers run with
 * automatic topic creation off, so each service owns the creation of the topics it produces to
 * and consumes from.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return [];
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.numPartitions ?? 3,
        replicationFactor: s.replicationFactor ?? 1,
        configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    return missing.map((s) => s.topic);
  } catch (err) {
    // Another replica may have created the same topics between our list and create.
    if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') return [];
    throw err;
  } finally {
    await admin.disconnect();
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
