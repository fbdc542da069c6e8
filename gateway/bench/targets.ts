// One server of the gateway benchmark, started as its own process (so that it can be pinned to a
// core): `node --import tsx targets.ts <name>`. Prints `{"port":N}` once it listens.
// Environment: UPSTREAM_URL, REDIS_URL, JWKS_URL (the proxies), PORT (default: a free one).
import httpProxy from '@fastify/http-proxy';
import rateLimit from '@fastify/rate-limit';
import { TokenError, bearerToken, createAccessTokenVerifier } from '@taskmesh/access-token';
import { loadConfig } from '@taskmesh/service-kit';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import fastGateway from 'fast-gateway';
import CircuitBreaker from 'opossum';
import { buildApp } from '../dist/app.js';
import { ConfigSchema } from '../dist/config.js';
import { TokenCache } from '../dist/domain/token-cache.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const port = Number(process.env.PORT ?? 0);
const listening = (p: number) => process.stdout.write(`${JSON.stringify({ port: p })}\n`);

/** Fastify's own benchmark shape: one route answering a small JSON document. */
async function upstream(): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/tasks/:id', async (request) => ({
    id: (request.params as { id: string }).id,
    title: 'write the benchmark',
    done: false,
    ownerId: 'user-1',
    version: 3,
  }));
  app.get('/health/ready', async () => ({ status: 'ready' }));
  await app.listen({ host: '127.0.0.1', port });
  listening((app.server.address() as { port: number }).port);
}

async function bareHttpProxy(): Promise<void> {
  const app = Fastify({ logger: false });
  await app.register(httpProxy, { upstream: env('UPSTREAM_URL'), prefix: '/tasks', rewritePrefix: '/tasks', undici: { connections: 128 } });
  await app.listen({ host: '127.0.0.1', port });
  listening((app.server.address() as { port: number }).port);
}

async function fastGatewayProxy(): Promise<void> {
  const server = fastGateway({ routes: [{ prefix: '/tasks', prefixRewrite: '/tasks', target: env('UPSTREAM_URL') }] });
  await server.start(port, '127.0.0.1');
  listening((server.getServer().address() as { port: number }).port);
}

declare module 'fastify' {
  interface FastifyRequest {
    settle?: { resolve: () => void; reject: (err: Error) => void };
  }
}

/**
 * @fastify/http-proxy given the same three features as the gateway, built the way its
 * documentation suggests: the same cached JWT verifier in a hook, @fastify/rate-limit on Redis
 * per user, and an opossum breaker (timeout off) fed from reply-from's response callbacks.
 */
async function httpProxyWithFeatures(): Promise<void> {
  const app: FastifyInstance = Fastify({ logger: false });
  const { verify } = new TokenCache(
    createAccessTokenVerifier({ jwksUrl: env('JWKS_URL'), issuer: 'taskmesh-auth', audience: 'taskmesh' }),
    { maxEntries: 10000 },
  );
  const breaker = new CircuitBreaker((outcome: Promise<void>) => outcome, {
    timeout: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 10,
    resetTimeout: 10000,
    enableSnapshots: false,
  });
  // Auto-pipelining: one rate-limit command per request, sent together when they coincide.
  const redis = new Redis(env('REDIS_URL'), {
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    commandTimeout: 250,
    lazyConnect: true,
  });
  await redis.connect();
  app.decorateRequest('principal', undefined);
  app.decorateRequest('settle', undefined);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (!token) return reply.code(401).send({ code: 'AUTH_ERR_TOKEN_MISSING', message: 'a bearer token is required' });
    try {
      request.principal = await verify(token);
    } catch (err) {
      if (err instanceof TokenError) return reply.code(401).send({ code: err.code, message: err.message });
      throw err;
    }
  });
  await app.register(rateLimit, {
    redis,
    max: 1_000_000_000,
    timeWindow: 60_000,
    enableDraftSpec: true,
    keyGenerator: (r) => `user:${r.principal!.userId}`,
  });
  app.addHook('preHandler', async (request, reply) => {
    if (breaker.opened || (breaker.halfOpen && !breaker.pendingClose))
      return reply.code(503).send({ code: 'GATEWAY_ERR_CIRCUIT_OPEN', message: 'open' });
    breaker
      .fire(
        new Promise<void>((resolve, reject) => {
          request.settle = { resolve, reject };
        }),
      )
      .catch(() => {});
  });
  await app.register(httpProxy, {
    upstream: env('UPSTREAM_URL'),
    prefix: '/tasks',
    rewritePrefix: '/tasks',
    undici: { connections: 128 },
    replyOptions: {
      onResponse: (request, reply, res) => {
        if (res.statusCode >= 500) request.settle?.reject(new Error(`upstream ${res.statusCode}`));
        else request.settle?.resolve();
        return reply.send(res.stream);
      },
      onError: (reply, { error }) => {
        reply.request.settle?.reject(error);
        return reply.send(error);
      },
    },
  });
  app.addHook('onClose', async () => redis.disconnect());
  await app.listen({ host: '127.0.0.1', port });
  listening((app.server.address() as { port: number }).port);
}

/** The gateway with every feature on; request logging off, as the other servers have none. */
async function ourGateway(overrides: Record<string, string> = {}): Promise<void> {
  const upstreamUrl = env('UPSTREAM_URL');
  const config = loadConfig(ConfigSchema, {
    PORT: String(port),
    LOG_LEVEL: 'warn',
    REDIS_URL: env('REDIS_URL'),
    AUTH_URL: upstreamUrl,
    TASK_URL: upstreamUrl,
    ANALYTICS_URL: upstreamUrl,
    JWKS_URL: env('JWKS_URL'),
    RATE_LIMIT_API_PER_MINUTE: '1000000000',
    RATE_LIMIT_KEY_PREFIX: `bench:${process.pid}:`,
    CORS_ORIGINS: 'https://app.example.com',
    ...overrides,
  });
  const app = await buildApp(config);
  await app.listen({ host: '127.0.0.1', port });
  listening((app.server.address() as { port: number }).port);
}

const TARGETS: Record<string, () => Promise<void>> = {
  upstream,
  'http-proxy': bareHttpProxy,
  'fast-gateway': fastGatewayProxy,
  'http-proxy+features': httpProxyWithFeatures,
  gateway: () => ourGateway(),
  'gateway-unpipelined': () => ourGateway({ UPSTREAM_PIPELINING: '1' }),
};

const name = process.argv[2] ?? '';
const start = TARGETS[name];
if (!start) {
  console.error(`unknown target "${name}"; one of ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
start().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));
