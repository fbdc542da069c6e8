import { Type, type Static } from '@sinclair/typebox';
import { TOPICS } from '@taskmesh/events';

/** Only good enough for a laptop: `server.ts` refuses it when NODE_ENV is production. */
export const LOCAL_CURSOR_SECRET = 'local-only-cursor-secret-change-me-000000';

/** The environment this service reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3002 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  MONGODB_URI: Type.String({ default: 'mongodb://127.0.0.1:27017' }),
  MONGODB_DB: Type.String({ default: 'task' }),
  MONGODB_MAX_POOL_SIZE: Type.Integer({ minimum: 1, default: 20 }),
  KAFKA_BROKERS: Type.String({ default: '127.0.0.1:9092' }),
  /** Where task events go; tests point it at a topic of their own. */
  TASK_EVENTS_TOPIC: Type.String({ minLength: 1, default: TOPICS.taskEvents }),
  JWKS_URL: Type.String({ default: 'http://127.0.0.1:3001/.well-known/jwks.json' }),
  JWT_ISSUER: Type.String({ default: 'taskmesh-auth' }),
  JWT_AUDIENCE: Type.String({ default: 'taskmesh' }),
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
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10000 }),
});

export type Config = Static<typeof ConfigSchema>;
