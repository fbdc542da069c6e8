import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { mergeOpenApi, openApiPath, type OpenApiDocument } from '../domain/openapi-merge.js';
import type { UpstreamName } from '../domain/upstream.js';
import { PUBLIC_API } from '../routes/public-api.js';

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

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/GatewayError' } } },
});

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
        openapi: '3.0.3',
        info: { title: 'taskmesh API', version: '1.0.0', description: 'The public API of taskmesh, as served by its gateway.' },
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
          schemas: {
            GatewayError: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
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

    const withGatewayAnswers = (doc: OpenApiDocument): OpenApiDocument => {
      for (const r of PUBLIC_API) {
        const op = doc.paths?.[openApiPath(r.url)]?.[r.method.toLowerCase()] as { responses?: Record<string, unknown> } | undefined;
        if (!op) continue;
        const responses = (op.responses ??= {});
        if (r.access !== 'public') responses['401'] ??= errorResponse('No valid access token');
        if (r.access === 'admin') responses['403'] ??= errorResponse('The caller lacks the role');
        responses['429'] ??= errorResponse('Rate limit exceeded; see Retry-After');
        responses['502'] ??= errorResponse('The upstream service could not be reached');
        responses['503'] ??= errorResponse('The upstream is failing (circuit open) or the rate limiter is unavailable');
        responses['504'] ??= errorResponse('The upstream service did not answer in time');
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
