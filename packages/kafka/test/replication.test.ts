// Topics on a three-node KRaft cluster (as the `ha` profile runs Kafka): created with the
// cluster's replication (3, min.insync.replicas 2), and produced to and consumed from while one
// broker restarts. A private cluster on free ports, from the cached Kafka jars.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster, type KafkaCluster } from '../../../scripts/kafka-cluster-lib.mjs';
import { EventProducer, clusterTopicDefaults, createKafka, ensureTopics, startConsumer, type Kafka } from '../src/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('topics on a three-broker KRaft cluster', () => {
  let cluster: KafkaCluster;
  let kafka: Kafka;

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startKafkaCluster({ nodes: 3, replicationFactor: 3, minInsyncReplicas: 2 });
    console.log(`three-node KRaft cluster ${cluster.brokers} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    kafka = createKafka({ brokers: cluster.brokers.split(','), clientId: 'replication-test', retries: 8 });
  }, 240_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('when a service ensures its topics without saying how, then they get the cluster replication (3) and min.insync.replicas (2)', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await clusterTopicDefaults(admin)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
      const topic = `test.replicated.${randomUUID().slice(0, 8)}`;
      expect(await ensureTopics(kafka, [{ topic, numPartitions: 3 }])).toEqual([topic]);
      const replicas = async () => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.map((p) => p.replicas.length);
      await expect.poll(() => replicas().catch((err: Error) => err.message), { timeout: 20_000, interval: 300 }).toEqual([3, 3, 3]);
      // Any broker may answer, and one may not have the new topic's metadata yet.
      const minIsr = async () => {
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['min.insync.replicas'] }],
        });
        return resources[0]!.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      };
      await expect.poll(() => minIsr().catch((err: Error) => err.message), { timeout: 20_000, interval: 300 }).toBe('2');
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('when one broker restarts under a steady producer (acks=all), then every message is acknowledged and consumed', async () => {
    const topic = `test.restart.${randomUUID().slice(0, 8)}`;
    // The control: replicated as every topic was before (factor 1), one partition per broker.
    const single = `test.single.${randomUUID().slice(0, 8)}`;
    await ensureTopics(kafka, [{ topic, numPartitions: 3 }, { topic: single, numPartitions: 3, replicationFactor: 1, minInsyncReplicas: 1 }]);
    // No retries: a leaderless partition is an answer here, not something to wait out.
    const admin = createKafka({ brokers: cluster.brokers.split(','), clientId: 'replication-probe', retries: 0 }).admin();
    await admin.connect();
    const partitionsOf = async (t: string) => (await admin.fetchTopicMetadata({ topics: [t] })).topics[0]!.partitions;
    const producer = new EventProducer(kafka);
    await producer.connect();
    const received = new Set<number>();
    const consumer = await startConsumer(kafka, {
      groupId: `g.${topic}`,
      topics: [topic],
      handle: async (m) => void received.add(JSON.parse(m.value!.toString()).i as number),
    });
    let sent = 0;
    let failed = 0;
    let stop = false;
    const phases: Record<string, { sent: number; failed: number }> = {};
    let phase = 'before';
    const loop = (async () => {
      while (!stop) {
        const i = sent;
        try {
          await producer.send(topic, [{ key: `k${i % 7}`, value: { i } }]);
          sent++;
          (phases[phase] ??= { sent: 0, failed: 0 }).sent++;
        } catch {
          failed++;
          (phases[phase] ??= { sent: 0, failed: 0 }).failed++;
        }
        await sleep(20);
      }
    })();
    try {
      await sleep(3000);
      phase = 'broker 2 down';
      await cluster.stopNode(2);
      // With replication 3, every partition keeps a leader and two in-sync replicas (so acks=all
      // writes go on); with replication 1, the partition on broker 2 has no leader at all.
      await expect
        .poll(async () => (await partitionsOf(topic)).every((p) => p.leader >= 0 && p.leader !== 2 && p.isr.length >= 2), { timeout: 15_000, interval: 300 })
        .toBe(true);
      const leaderless = async () => {
        try {
          return (await partitionsOf(single)).some((p) => p.leader < 0);
        } catch (err) {
          return /leader/i.test((err as Error).message);
        }
      };
      await expect.poll(leaderless, { timeout: 15_000, interval: 300 }).toBe(true);
      await sleep(3000);
      phase = 'broker 2 restarting';
      await cluster.startNode(2);
      phase = 'after';
      await sleep(3000);
      stop = true;
      await loop;
      console.log(`produced through a broker restart: ${JSON.stringify(phases)}, ${failed} failed sends in total`);
      expect(failed).toBe(0);
      expect(sent).toBeGreaterThan(50);
      await expect.poll(() => received.size, { timeout: 60_000, interval: 500 }).toBe(sent);
    } finally {
      stop = true;
      await loop;
      await consumer.stop();
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 180_000);
});
