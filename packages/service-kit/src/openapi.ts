import swagger from '@fastify/swagger';
// Re-exported so that every importer sees @fastify/swagger's route schema fields (operationId, tags, security).
export type { SwaggerOptions } from '@fastify/swagger';
import type { FastifyInstance, FastifySchema } from 'fastify';
import fp from 'fastify-plugin';
import type { ErrorFactory } from './errors.js';

/** The one OpenAPI version of every document: the service's own and the gateway's merged one. */
export const OPENAPI_VERSION = '3.1.0';

/** The one name of the bearer scheme, in every document and every operation's `security`. */
export const BEARER_SCHEME = 'bearerAuth';

/** `security` of an operation that needs an access token. */
export const bearerSecurity = [{ [BEARER_SCHEME]: [] as string[] }];

export const bearerSecurityScheme = {
  [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
} as const;

export interface OpenApiOptions {
  readonly title: string;
  readonly description: string;
  /** @default '1.0.0' */
  readonly version?: string;
}

/**
 * The service's OpenAPI document, served (hidden from itself) at `/docs/json`, where the gateway
 * fetches it to merge the public one. Schemas registered with `app.addSchema` keep their `$id` as
 * their component name. Must be registered before the routes it describes.
 */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, opts) => {
    await app.register(swagger, {
      openapi: {
        openapi: OPENAPI_VERSION,
        info: { title: opts.title, description: opts.description, version: opts.version ?? '1.0.0' },
        components: { securitySchemes: bearerSecurityScheme },
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    });
    app.get('/docs/json', { schema: { hide: true } as FastifySchema, logLevel: 'warn' }, async () => app.swagger());
  },
  { name: '@taskmesh/openapi' },
);

/** Each status an operation answers with, and the schema of that answer. */
export type ResponseSchemas = Record<number, unknown>;

/** JSON Schema of a response header, as @fastify/swagger reads it from a response's `headers`. */
export interface HeaderSchema {
  readonly type: 'integer' | 'string';
  readonly description: string;
  readonly minimum?: number;
  readonly pattern?: string;
}

/** `Retry-After` in seconds (RFC 9110 §10.2.3), on every 503 and 429 we send. */
export const RETRY_AFTER: Record<string, HeaderSchema> = {
  'retry-after': { type: 'integer', minimum: 0, description: 'Seconds to wait before trying again' },
};

/**
 * The codes of a catalogue (or several) that answer with `status`, for an error response's
 * `code` enum. Each factory is called once to read its status.
 */
export function codesWithStatus(status: number, ...catalogues: Record<string, ErrorFactory>[]): string[] {
  return catalogues.flatMap((catalogue) =>
    Object.entries(catalogue)
      .filter(([, make]) => make().statusCode === status)
      .map(([code]) => code),
  );
}

/**
 * The schema of an error answer `{ code, message }` whose `code` is one of `codes`: the client
 * learns from the document which failures an operation can report, and a generated client gets
 * them as a union type. `headers` are response headers (e.g. {@link RETRY_AFTER}).
 */
export function errorResponse(description: string, codes: readonly string[], headers?: Record<string, HeaderSchema>) {
  return {
    type: 'object',
    description,
    required: ['code', 'message'],
    additionalProperties: false,
    properties: {
      code: { type: 'string', enum: [...new Set(codes)].sort() },
      message: { type: 'string', description: 'For people; may change. Programs read `code`.' },
    },
    ...(headers ? { headers } : {}),
  } as const;
}

/** Codes of the request-shape failures the shared plugins raise before a handler runs. */
export const REQUEST_ERROR_CODES = {
  /** Parameters, query string or headers failed their schema; or Fastify refused the request line. */
  input: ['ERR_VALIDATION', 'ERR_BAD_REQUEST'],
  /** A JSON body: also malformed JSON and forbidden keys. */
  body: ['ERR_VALIDATION', 'ERR_BAD_REQUEST', 'ERR_MALFORMED_JSON', 'ERR_FORBIDDEN_KEY'],
} as const;

/**
 * The 400 of an operation: the request-shape failures of what it takes (`input`: parameters, query
 * string and headers; `body`: a JSON body as well), then the operation's own `codes`.
 */
export function badRequestResponse(takes: keyof typeof REQUEST_ERROR_CODES, description: string, codes: readonly string[] = []) {
  return errorResponse(description, [...REQUEST_ERROR_CODES[takes], ...codes]);
}

/** 413 and 415 of an operation that takes a JSON body. */
export const bodyErrorResponses = () => ({
  413: errorResponse('The body is larger than the service accepts', ['ERR_PAYLOAD_TOO_LARGE']),
  415: errorResponse('The body is not application/json', ['ERR_UNSUPPORTED_MEDIA_TYPE']),
});
