import { Type, type Static, type TSchema, type TString } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads a service's configuration from environment variables against one TypeBox schema whose
 * property names are the variable names. Defaults come from the schema; numbers and booleans are
 * converted; anything invalid or missing fails here, before the service listens.
 */
export function loadConfig<S extends TSchema>(schema: S, env: NodeJS.ProcessEnv = process.env): Static<S> {
  const props = (schema as unknown as { properties?: Record<string, unknown> }).properties ?? {};
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(props)) {
    const v = env[key];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const value = Value.Convert(schema, Value.Default(schema, raw));
  const errors = [...Value.Errors(schema, value)];
  if (errors.length > 0) {
    const secret = /KEY|SECRET|PASSWORD|TOKEN/i;
    throw new ConfigError(
      errors.map((e) => {
        const name = e.path.replace(/^\//, '');
        const shown = secret.test(name) ? '(hidden)' : JSON.stringify(e.value);
        return `${name}: ${e.message}${e.value === undefined ? ' (not set)' : ` (got ${shown})`}`;
      }),
    );
  }
  return value as Static<S>;
}

/**
 * Environment fragments that every service reads the same way; a service's schema spreads the
 * ones it needs, so a variable has one name, one default and one check everywhere.
 */
export const LogLevelSchema = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
  { default: 'info' },
);

/** Where to listen, how to log, how long to drain on SIGTERM. */
export const serverConfig = (port: number) => ({
  /** 0 asks the system for a free port (tests). */
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: LogLevelSchema,
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10000 }),
  /** After SIGTERM, serve on with Connection: close for this long before closing (docs/kubernetes.md, Draining). */
  DRAIN_MS: Type.Integer({ minimum: 0, default: 5000 }),
});

/** The service's own database on the shared cluster (mongos in Kubernetes). */
export const mongoConfig = (database: string) => ({
  MONGODB_URI: Type.String({ default: 'mongodb://127.0.0.1:27017' }),
  MONGODB_DB: Type.String({ minLength: 1, default: database }),
  MONGODB_MAX_POOL_SIZE: Type.Integer({ minimum: 1, default: 20 }),
  /** How long start-up waits for the database (and its indexes) before giving up, with a logged back-off. */
  MONGODB_STARTUP_WAIT_MS: Type.Integer({ minimum: 0, default: 120000 }),
});

/**
 * `KAFKA_BROKERS`, a comma-separated `host:port` list of bootstrap brokers, and one setting per
 * topic the service reads or writes, named by the keys of `topics` and defaulting to their values
 * (the project's topic; tests point it at a topic of their own).
 */
export function kafkaConfig<const K extends string = never>(topics: Readonly<Record<K, string>> = {} as Record<K, string>) {
  const topicSettings = {} as Record<K, TString>;
  for (const [name, topic] of Object.entries(topics) as [K, string][]) topicSettings[name] = Type.String({ minLength: 1, default: topic });
  return { KAFKA_BROKERS: Type.String({ minLength: 1, default: '127.0.0.1:9092' }), ...topicSettings };
}

/** Where auth publishes its keys, and the claims every access token must carry. */
export const tokenVerifierConfig = () => ({
  JWKS_URL: Type.String({ default: 'http://127.0.0.1:3001/.well-known/jwks.json' }),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'taskmesh-auth' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'taskmesh' }),
});

/**
 * A cache-aside in Redis: where Redis is, how long a command may hold a request before the store
 * answers instead, and the values' TTL, which bounds how stale a read can be when an invalidation
 * is lost (0 turns the cache off).
 */
export const redisCacheConfig = (ttlSeconds: number) => ({
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 100 }),
  CACHE_TTL_SECONDS: Type.Integer({ minimum: 0, maximum: 86_400, default: ttlSeconds }),
});
