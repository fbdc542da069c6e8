import { Type, type Static } from '@sinclair/typebox';

/** The environment the gateway reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], { default: 'info' }),
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379' }),
  AUTH_URL: Type.String({ default: 'http://127.0.0.1:3001' }),
  TASK_URL: Type.String({ default: 'http://127.0.0.1:3002' }),
  ANALYTICS_URL: Type.String({ default: 'http://127.0.0.1:3003' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10000 }),
});

export type Config = Static<typeof ConfigSchema>;
