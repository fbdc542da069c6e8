import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

export interface SecurityOptions {
  /** Origins allowed to call the API from a browser; none sends no CORS headers at all. */
  readonly corsOrigins: readonly string[];
}

/** The API answers JSON; the only HTML is the documentation page, which sets its own policy. */
const HELMET: HelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
};

/**
 * The headers helmet sets for a configuration, computed once. @fastify/helmet runs `helmet(config)`
 * anew for every request (re-parsing the CSP directives each time) behind two hooks; with fixed
 * options the answer is always the same set of headers, so the gateway asks helmet once at boot
 * and copies the result onto each reply.
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string) => void (headers[name.toLowerCase()] = value),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  helmet(options)({} as never, res as never, () => {});
  return headers;
}

/** Security headers on every answer, and CORS for the configured origins only. */
export const securityPlugin = fp<SecurityOptions>(
  async (app: FastifyInstance, opts) => {
    const headers = helmetHeaders(HELMET);
    app.addHook('onRequest', (_request, reply, done) => {
      void reply.headers(headers);
      done();
    });
    if (opts.corsOrigins.length > 0) {
      const exposedHeaders = ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'];
      // Preflights are @fastify/cors's, registered in a scope of its own: its hook then runs for its
      // OPTIONS route only, instead of for every request (it spreads its options into a new
      // object and resolves the origin through a callback each time).
      await app.register(async (preflight) => {
        await preflight.register(cors, {
          origin: [...opts.corsOrigins],
          methods: ['GET', 'POST', 'PATCH', 'DELETE'],
          allowedHeaders: ['authorization', 'content-type', 'x-request-id', 'traceparent'],
          exposedHeaders,
          maxAge: 600,
        });
      });
      // Every other answer gets what @fastify/cors gives it for these options: Vary: Origin, the
      // origin echoed when it is allowed, and the exposed headers.
      const anyOrigin = opts.corsOrigins.includes('*');
      const allowed = new Set(opts.corsOrigins);
      const exposed = exposedHeaders.join(', ');
      app.addHook('onRequest', (request, reply, done) => {
        if (request.method === 'OPTIONS') return done();
        const vary = reply.getHeader('vary');
        if (vary === undefined) void reply.header('vary', 'Origin');
        else if (!/(?:^|,)\s*(?:\*|origin)\s*(?:,|$)/i.test(String(vary))) void reply.header('vary', `${String(vary)}, Origin`);
        const origin = request.headers.origin;
        if (anyOrigin) void reply.header('access-control-allow-origin', '*');
        else if (origin !== undefined && allowed.has(origin)) void reply.header('access-control-allow-origin', origin);
        void reply.header('access-control-expose-headers', exposed);
        done();
      });
    }
  },
  { name: 'gateway-security' },
);
