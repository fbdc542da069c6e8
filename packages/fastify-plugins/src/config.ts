import type { Static, TSchema } from '@sinclair/typebox';
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
