import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { clientResponseHeaders, upstreamRequestHeaders } from '../domain/forward-headers.js';
import type { ForwardRequest } from '../domain/upstream.js';
import { PUBLIC_API } from './public-api.js';

const UTF8_JSON = /^application\/(?:[\w.+-]+\+)?json\s*(?:;\s*charset=utf-8\s*)?$/i;
const isUtf8Json = (contentType: string | undefined) => contentType !== undefined && UTF8_JSON.test(contentType);

/**
 * The public routes, each relayed to its upstream after the gateway's own checks:
 * authentication and role (onRequest), then the rate limit (@fastify/rate-limit's onRequest hook,
 * from the route's `config.rateLimit`), so that a refused request is
 * answered before its body is even read. Bodies are relayed as raw bytes, whatever their type:
 * the services parse and validate them and answer 400/415 themselves.
 */
export async function proxyRoutes(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const route of PUBLIC_API) {
    const upstream = app.upstreams[route.upstream];
    const onRequest: onRequestHookHandler[] = [];
    if (route.access !== 'public') onRequest.push(app.authenticateHook as onRequestHookHandler);
    if (route.access === 'admin') onRequest.push(app.requireRole('admin') as onRequestHookHandler);

    app.route({
      method: route.method,
      url: route.url,
      schema: {
        summary: route.summary,
        tags: [route.upstream],
        ...(route.access === 'public' ? {} : { security: [{ bearerAuth: [] }] }),
      },
      // @fastify/rate-limit adds its hook after these, so a user's requests count under their id.
      config: { bucket: route.bucket, rateLimit: app.rateLimitFor(route.bucket) },
      onRequest,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const forward: ForwardRequest = {
          // HEAD is relayed as the GET it mirrors; Fastify's HEAD route then sends the headers and
          // the length of that answer without its body, as the services themselves would.
          method: (request.method === 'HEAD' ? 'GET' : request.method) as ForwardRequest['method'],
          path: request.url,
          headers: upstreamRequestHeaders(request.headers, { requestId: request.id, clientIp: request.ip, protocol: request.protocol }),
          body: request.body as Buffer | undefined,
        };
        const res = await upstream.forward(forward);
        void reply.code(res.statusCode).headers(clientResponseHeaders(res.headers));
        // Node writes a string body in the same write as the status line and headers; a Buffer
        // goes out as a second chunk (writev). UTF-8 JSON survives the round trip byte for byte.
        return reply.send(isUtf8Json(res.headers['content-type']) ? res.body.toString('utf8') : res.body);
      },
    });
  }
}
