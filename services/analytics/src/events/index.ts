import { deadLetterTopic, retryTopic } from '@taskmesh/events';
import { ensureTopics, startConsumer, type ConsumerHandle } from '@taskmesh/kafka';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { StatsRepository } from '../domain/stats/stats-repository.js';
import { createConsumerMetrics, registerLagGauge } from './metrics.js';
import { createBatchHandler, type ProcessingHooks } from './stats-handler.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The statistics consumer group member of this instance. */
    statsConsumer: ConsumerHandle;
  }
}

/** The topics one consumer group reads and writes. */
export interface StatsTopics {
  readonly userEvents: string;
  readonly taskEvents: string;
  /** Replayed dead letters come back here. */
  readonly retry: string;
  readonly deadLetters: string;
}

export function statsTopics(groupId: string, userEvents: string, taskEvents: string): StatsTopics {
  return { userEvents, taskEvents, retry: retryTopic(groupId), deadLetters: deadLetterTopic(groupId) };
}

export interface StatsEventsOptions {
  readonly stats: StatsRepository;
  readonly groupId: string;
  readonly topics: StatsTopics;
  /** Partitions of each topic this service creates. @default 3 */
  readonly partitions?: number;
  readonly partitionsConcurrently?: number;
  readonly sessionTimeoutMs?: number;
  readonly maxAttempts?: number;
  /**
   * Messages processed between two offset commits at most. Must stay well below the dedup
   * window, so that any redelivery finds its event in the user's record. @default 25
   */
  readonly commitEvery?: number;
  readonly hooks?: ProcessingHooks;
  /** The consumer stopped for good; the process should exit so that it is restarted. */
  readonly onCrash?: (err: Error) => void;
}

/**
 * The consumer group that keeps the statistics: creates its topics (source topics too, so the
 * service starts before their producers have), joins the group, and leaves it before the
 * store and the producer close.
 */
export const statsEvents = fp<StatsEventsOptions>(
  async (app: FastifyInstance, opts) => {
    const { topics } = opts;
    const kafka = app.kafka.client;
    const partitions = opts.partitions ?? 3;
    await ensureTopics(
      kafka,
      [topics.userEvents, topics.taskEvents, topics.retry, topics.deadLetters].map((topic) => ({ topic, numPartitions: partitions })),
    );

    const metrics = createConsumerMetrics(app.metrics);
    const sources = [topics.userEvents, topics.taskEvents, topics.retry];
    registerLagGauge(app.metrics, kafka, { groupId: opts.groupId, topics: sources });
    const log = app.log.child({ groupId: opts.groupId });

    const handle = await startConsumer(kafka, {
      groupId: opts.groupId,
      topics: sources,
      log,
      commitEvery: opts.commitEvery ?? 25,
      ...(opts.partitionsConcurrently ? { partitionsConcurrently: opts.partitionsConcurrently } : {}),
      ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
      ...(opts.onCrash ? { onCrash: opts.onCrash } : {}),
      // Micro-batches of commitEvery messages: one store write per user and one global write each.
      handleBatch: createBatchHandler({
        stats: opts.stats,
        producer: app.kafka.producer,
        metrics,
        log,
        groupId: opts.groupId,
        deadLetterTopic: topics.deadLetters,
        ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
        ...(opts.hooks ? { hooks: opts.hooks } : {}),
      }),
    });
    app.decorate('statsConsumer', handle);
    // Reported, not required: the statistics stay readable while the consumer waits for Kafka;
    // a consumer that gave up for good ends the process (onCrash), which liveness then sees.
    app.readiness.add(
      'consumer',
      async () => {
        if (!handle.isRunning()) throw new Error('the statistics consumer is not running');
      },
      { required: false },
    );
    // preClose runs before any onClose: in-flight messages finish while Mongo and the producer
    // are still connected, and the group rebalances at once instead of after a session timeout.
    app.addHook('preClose', async () => {
      await handle.stop();
    });
  },
  { name: 'analytics-stats-events', dependencies: ['@taskmesh/kafka', '@taskmesh/mongo'] },
);
