import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface SecurityOptions {
  /** Origins allowed to call the API from a browser; none sends no CORS headers at all. */
  readonly corsOrigins: readonly string[];
}

/** Security headers on every answer, and CORS for the configured origins only. */
export const securityPlugin = fp<SecurityOptions>(
  async (app: FastifyInstance, opts) => {
    await app.register(helmet, {
      // The API answers JSON; the only HTML is the documentation page, which sets its own policy.
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    });
    if (opts.corsOrigins.length > 0) {
      await app.register(cors, {
        origin: [...opts.corsOrigins],
        methods: ['GET', 'POST', 'PATCH', 'DELETE'],
        allowedHeaders: ['authorization', 'content-type', 'x-request-id', 'traceparent'],
        exposedHeaders: ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
        maxAge: 600,
      });
    }
  },
  { name: 'gateway-security' },
);
