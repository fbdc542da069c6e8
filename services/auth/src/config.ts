import { Type, type Static } from '@sinclair/typebox';

/** The environment this service reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3001 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  MONGODB_URI: Type.String({ default: 'mongodb://127.0.0.1:27017' }),
  MONGODB_DB: Type.String({ default: 'auth' }),
  MONGODB_MAX_POOL_SIZE: Type.Integer({ minimum: 1, default: 20 }),
  KAFKA_BROKERS: Type.String({ default: '127.0.0.1:9092' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10000 }),
});

export type Config = Static<typeof ConfigSchema>;
