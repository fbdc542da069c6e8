import { Type, type Static } from '@sinclair/typebox';
import { serverConfig, tokenVerifierConfig } from '@taskmesh/service-kit';

const Milliseconds = (def: number, description: string) => Type.Integer({ minimum: 1, default: def, description });

/** The environment the gateway reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  ...serverConfig(8080),

  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379' }),
  /** Short on purpose: a dead or hanging Redis must not hold requests (see docs/gateway.md). */
  REDIS_COMMAND_TIMEOUT_MS: Milliseconds(250, 'bound on each rate-limit round trip'),

  AUTH_URL: Type.String({ default: 'http://127.0.0.1:3001' }),
  TASK_URL: Type.String({ default: 'http://127.0.0.1:3002' }),
  ANALYTICS_URL: Type.String({ default: 'http://127.0.0.1:3003' }),
  /** Auth hashes passwords with argon2id, so its calls get more time than the others. */
  AUTH_TIMEOUT_MS: Milliseconds(10000, 'headers and body timeout for auth'),
  TASK_TIMEOUT_MS: Milliseconds(5000, 'headers and body timeout for task'),
  ANALYTICS_TIMEOUT_MS: Milliseconds(5000, 'headers and body timeout for analytics'),
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, default: 128, description: 'keep-alive sockets per upstream' }),
  UPSTREAM_PIPELINING: Type.Integer({
    minimum: 1,
    default: 16,
    description: 'idempotent requests in flight on one upstream socket (HTTP/1.1 pipelining); 1 turns it off',
  }),
  UPSTREAM_RESPONSE_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),

  BREAKER_ERROR_THRESHOLD_PERCENTAGE: Type.Number({ exclusiveMinimum: 0, maximum: 100, default: 50 }),
  BREAKER_VOLUME_THRESHOLD: Type.Integer({ minimum: 1, default: 10 }),
  BREAKER_RESET_TIMEOUT_MS: Milliseconds(10000, 'time an open breaker waits before letting one trial call through'),
  BREAKER_ROLLING_WINDOW_MS: Milliseconds(10000, 'window over which the failure percentage is computed'),

  ...tokenVerifierConfig(),
  JWKS_REFETCH_COOLDOWN_MS: Milliseconds(5000, 'least time between two JWKS fetches caused by an unknown kid'),
  TOKEN_CACHE_SIZE: Type.Integer({ minimum: 0, default: 10000, description: 'verified tokens kept until their exp; 0 disables' }),

  RATE_LIMIT_AUTH_PER_MINUTE: Type.Integer({ minimum: 0, default: 5 }),
  RATE_LIMIT_API_PER_MINUTE: Type.Integer({ minimum: 0, default: 100 }),
  RATE_LIMIT_WINDOW_MS: Milliseconds(60000, 'the window both limits count over'),
  RATE_LIMIT_KEY_PREFIX: Type.String({ default: 'gateway:rl:' }),
  /** Comma-separated addresses or CIDRs whose X-Forwarded-For is believed; empty trusts none. */
  TRUSTED_PROXIES: Type.String({ default: '' }),

  /** Comma-separated origins allowed by CORS; empty sends no CORS headers at all. */
  CORS_ORIGINS: Type.String({ default: '' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1, default: 65536 }),
  DOCS_CACHE_MS: Milliseconds(60000, 'how long a fetched upstream OpenAPI document is reused'),
});

export type Config = Static<typeof ConfigSchema>;

/** Splits a comma-separated setting, dropping blanks. */
export function listSetting(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
