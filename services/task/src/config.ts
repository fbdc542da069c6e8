import { Type, type Static } from '@sinclair/typebox';
import { kafkaConfig, mongoConfig, serverConfig, tokenVerifierConfig } from '@taskmesh/service-kit';
import { TOPICS } from '@taskmesh/events';

/** Only good enough for a laptop: `server.ts` refuses it when NODE_ENV is production. */
export const LOCAL_CURSOR_SECRET = 'local-only-cursor-secret-change-me-000000';

/** The environment this service reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  ...serverConfig(3002),
  ...mongoConfig('task'),
  // Where task events go.
  ...kafkaConfig({ TASK_EVENTS_TOPIC: TOPICS.taskEvents }),
  ...tokenVerifierConfig(),
  /** Signs list cursors, so that a cursor we did not issue is refused. */
  CURSOR_SECRET: Type.String({ minLength: 32, default: LOCAL_CURSOR_SECRET }),
  /** How often an idle relay looks for owners with pending events. */
  OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 250 }),
  /** How long a relay owns an owner's events; another relay may take them over after that. */
  OUTBOX_LEASE_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  /**
   * Longest time a task write may take after it touched its owner's outbox marker. A marker is
   * only removed once it has been untouched this long, so an in-flight write is never orphaned.
   */
  OUTBOX_SETTLE_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** Owners a relay claims per round. */
  OUTBOX_BATCH_OWNERS: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  /** Upper bound of the back-off between rounds while Kafka fails. */
  OUTBOX_MAX_BACKOFF_MS: Type.Integer({ minimum: 100, default: 5000 }),
});

export type Config = Static<typeof ConfigSchema>;
