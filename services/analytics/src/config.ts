import { Type, type Static } from '@sinclair/typebox';
import { kafkaConfig, mongoConfig, redisCacheConfig, serverConfig, tokenVerifierConfig } from '@taskmesh/service-kit';
import { TOPICS } from '@taskmesh/events';

/** The environment this service reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  ...serverConfig(3003),
  ...mongoConfig('analytics'),
  // Where auth publishes user events, and where task publishes task events.
  ...kafkaConfig({ USER_EVENTS_TOPIC: TOPICS.userEvents, TASK_EVENTS_TOPIC: TOPICS.taskEvents }),
  ...tokenVerifierConfig(),
  // Each user's statistics in Redis (docs/analytics.md, Cache): a reader is at most this stale.
  ...redisCacheConfig(60),
  /** The consumer group; its retry and dead-letter topics are named after it (`<group>.retry`, `<group>.dlq`). */
  KAFKA_GROUP_ID: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$', default: 'analytics' }),
  /** Partitions of the source topics when this service is the one creating them. */
  KAFKA_TOPIC_PARTITIONS: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
  /** Partitions handled side by side; each partition is still processed in order. */
  KAFKA_PARTITIONS_CONCURRENTLY: Type.Integer({ minimum: 1, maximum: 64, default: 3 }),
  /** A dead member's partitions move to another after this long. */
  KAFKA_SESSION_TIMEOUT_MS: Type.Integer({ minimum: 6000, default: 10_000 }),
  /** Attempts for an event whose processing fails before it is sent to the dead-letter topic. */
  ANALYTICS_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  /**
   * Event ids remembered per user for deduplication. A copy of an event is recognised while fewer
   * than this many newer events of the same user have been applied since the original.
   */
  ANALYTICS_DEDUP_WINDOW: Type.Integer({ minimum: 10, maximum: 5000, default: 50 }),
});

export type Config = Static<typeof ConfigSchema>;
