import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { tokenErrors } from '@taskmesh/access-token';
import {
  OPENAPI_VERSION,
  RETRY_AFTER,
  bearerSecurityScheme,
  codesWithStatus,
  errorResponse,
  type HeaderSchema,
} from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { addResponse, mergeOpenApi, openApiPath, type OpenApiDocument } from '../domain/openapi-merge.js';
import type { UpstreamName } from '../domain/upstream.js';
import { errors } from '../errors.js';
import { PUBLIC_API, type PublicRoute } from '../routes/public-api.js';

export interface OpenApiOptions {
  /** How long a fetched upstream document is reused before it is fetched again. */
  readonly cacheMs: number;
  /** Bound on each upstream fetch. @default 1500 */
  readonly fetchTimeoutMs?: number;
}

interface Cached {
  doc: OpenApiDocument | undefined;
  fetchedAt: number;
}

/** The draft-standard rate-limit headers on every answer that passed the limiter, and on its 429. */
const RATE_LIMIT_HEADERS: Record<string, HeaderSchema> = {
  'ratelimit-limit': { type: 'integer', minimum: 0, description: 'Requests allowed in the window' },
  'ratelimit-remaining': { type: 'integer', minimum: 0, description: 'Requests left in the window' },
  'ratelimit-reset': { type: 'integer', minimum: 0, description: 'Seconds until the window resets' },
};

const header = (schema: HeaderSchema) => {
  const { description, ...rest } = schema;
  return { description, schema: rest };
};
const headersObject = (headers: Record<string, HeaderSchema>) =>
  Object.fromEntries(Object.entries(headers).map(([name, h]) => [name, header(h)]));

/** An OpenAPI response object of the gateway's own `{ code, message }` answer. */
function gatewayAnswer(description: string, codes: readonly string[], headers: Record<string, unknown> = {}) {
  const { headers: _h, description: _d, ...schema } = errorResponse(description, codes);
  return { description, ...(Object.keys(headers).length > 0 ? { headers } : {}), content: { 'application/json': { schema } } };
}

/** What the gateway itself may answer for a route, before or instead of its upstream. */
function gatewayAnswers(route: PublicRoute): Record<string, ReturnType<typeof gatewayAnswer>> {
  const authenticated = route.access !== 'public';
  const strict = route.bucket === 'login' || route.bucket === 'register';
  const retryAfter = headersObject(RETRY_AFTER);
  return {
    ...(authenticated ? { 401: gatewayAnswer('No valid access token', codesWithStatus(401, tokenErrors)) } : {}),
    ...(route.access === 'admin' ? { 403: gatewayAnswer('The caller lacks the role', codesWithStatus(403, tokenErrors)) } : {}),
    429: gatewayAnswer(
      `Rate limit exceeded (${route.bucket === 'user' ? 'per user' : 'per client address'}); try again after Retry-After`,
      ['GATEWAY_ERR_RATE_LIMITED'],
      {
        ...headersObject(RATE_LIMIT_HEADERS),
        ...retryAfter,
      },
    ),
    502: gatewayAnswer('The upstream service could not be reached, or its answer was too large', codesWithStatus(502, errors)),
    503: gatewayAnswer(
      strict
        ? 'The upstream is failing (circuit open) or the rate limiter cannot be reached; try again after Retry-After'
        : 'The upstream is failing (circuit open); try again after Retry-After',
      [
        'GATEWAY_ERR_CIRCUIT_OPEN',
        ...(strict ? ['GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE'] : []),
        ...(authenticated ? codesWithStatus(503, tokenErrors) : []),
      ],
      retryAfter,
    ),
    504: gatewayAnswer('The upstream service did not answer in time', codesWithStatus(504, errors)),
  };
}

/**
 * `/docs` (Swagger UI) and `/docs/json`: the OpenAPI document of the whole public API. Each
 * service's own `/docs/json` is fetched when the documentation is asked for, reused for
 * `cacheMs`, and kept when a later fetch fails, so the page shows what is available when a
 * service is down. Must be registered before the routes it describes.
 */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, opts) => {
    await app.register(swagger, {
      openapi: {
        openapi: OPENAPI_VERSION,
        info: {
          title: 'taskmesh API',
          version: '1.0.0',
          description: [
            'The public API of taskmesh, as served by its gateway.',
            '',
            'Every error is `{ code, message }`: programs read `code`, whose possible values each answer lists.',
            'Rate limits: log in and register count per client address (a few a minute), every other route per user or per',
            'client address; answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, and a refused',
            'request gets 429 with `Retry-After`. Every 503 carries `Retry-After`. A method a path does not serve answers 405',
            'with `Allow`.',
          ].join('\n'),
        },
        components: { securitySchemes: bearerSecurityScheme },
      },
    });

    const names = [...new Set(PUBLIC_API.map((r) => r.upstream))];
    const owner = new Map(PUBLIC_API.map((r) => [`${r.method.toLowerCase()} ${openApiPath(r.url)}`, r.upstream]));
    const cache = new Map<UpstreamName, Cached>();
    let refreshing: Promise<void> | undefined;

    const fetchDoc = async (name: UpstreamName): Promise<void> => {
      const entry = cache.get(name);
      if (entry && Date.now() - entry.fetchedAt < opts.cacheMs) return;
      try {
        const res = await app.upstreams[name].get('/docs/json', opts.fetchTimeoutMs ?? 1500);
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
        cache.set(name, { doc: JSON.parse(res.body.toString('utf8')) as OpenApiDocument, fetchedAt: Date.now() });
      } catch (err) {
        app.log.warn({ err, upstream: name }, 'upstream OpenAPI document unavailable; serving the last one known');
        // A failure is not cached: the next request for the documentation tries again.
        if (!entry) cache.set(name, { doc: undefined, fetchedAt: 0 });
      }
    };
    const refresh = (): Promise<void> =>
      (refreshing ??= Promise.all(names.map(fetchDoc)).then(() => {
        refreshing = undefined;
      }));

    const rateLimitHeaders = headersObject(RATE_LIMIT_HEADERS);
    const withGatewayAnswers = (doc: OpenApiDocument): OpenApiDocument => {
      for (const r of PUBLIC_API) {
        const op = doc.paths?.[openApiPath(r.url)]?.[r.method.toLowerCase()] as { responses?: Record<string, unknown> } | undefined;
        if (!op) continue;
        const responses = (op.responses ??= {});
        for (const [status, answer] of Object.entries(gatewayAnswers(r))) addResponse(responses, status, answer);
        // Every answer that passed the limiter carries its headers; 401 and 403 come before it.
        for (const [status, answer] of Object.entries(responses)) {
          if (status === '401' || status === '403' || answer === null || typeof answer !== 'object') continue;
          const response = answer as { headers?: Record<string, unknown> };
          response.headers = { ...rateLimitHeaders, ...response.headers };
        }
      }
      return doc;
    };

    await app.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiHooks: {
        onRequest: async (request) => {
          if (request.url.startsWith('/docs/json') || request.url.startsWith('/docs/yaml')) await refresh();
        },
      },
      transformSpecification: (spec) => {
        const docs = names.map((name) => ({ name, doc: cache.get(name)?.doc }));
        const merged = mergeOpenApi(spec as OpenApiDocument, docs, (path, method) => owner.get(`${method} ${path}`));
        return withGatewayAnswers(merged);
      },
    });
  },
  { name: 'gateway-openapi', dependencies: ['gateway-upstreams'] },
);
