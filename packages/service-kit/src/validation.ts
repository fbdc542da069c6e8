import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import type { FastifyValidationResult } from 'fastify/types/schema.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv,
) => Ajv;

/**
 * The options of a closed object schema: a field the schema does not name is a 400, never silently
 * dropped (`Type.Object({ ... }, CLOSED)` or `{ ...CLOSED, examples }`).
 */
export const CLOSED = { additionalProperties: false } as const;

const base: Options = {
  // Unknown fields are rejected, never silently stripped: a client that sends `ownerId` learns it.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
};

/**
 * Body schemas are checked without type coercion: `["a"]` or `{"$ne": null}` where a string
 * belongs is a 400, not a string. Query strings and params arrive as text, so they are coerced.
 */
export function installStrictValidation(app: FastifyInstance): void {
  const body = addFormats(new Ajv({ ...base, coerceTypes: false }));
  const text = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema) as FastifyValidationResult);
}
