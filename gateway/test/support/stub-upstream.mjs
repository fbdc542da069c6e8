// A small, real upstream service for the gateway's tests, run as its own process. It echoes
// what reached it, counts the requests it served and the connections they came on, serves an OpenAPI document like the services
// do, and answers with the status named in `x-stub-status` (after `x-stub-delay-ms`), so that
// tests can make it fail without mocks. Prints `{"port":N}` once it listens.
import Fastify from 'fastify';

const name = process.env.STUB_NAME ?? 'stub';
const port = Number(process.env.PORT ?? 0);
let served = 0;
// Connections that carried relayed requests (probes and documents not counted).
let connections = 0;
const seen = new WeakSet();

const errorSchema = (description) => ({
  type: 'object',
  description,
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
});

/** Each stub documents a slice of the real service's API, with deliberately clashing component names. */
const DOCS = {
  auth: {
    paths: {
      '/auth/login': {
        post: {
          summary: 'Log in with email and password',
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Credentials' } } } },
          responses: {
            200: { description: 'A token pair' },
            401: { description: 'Wrong credentials', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          },
        },
      },
      '/internal/rotate-keys': { post: { summary: 'Not public', responses: { 204: { description: 'done' } } } },
    },
    components: {
      schemas: {
        Credentials: { type: 'object', properties: { email: { type: 'string' }, password: { type: 'string' } } },
        Error: errorSchema('auth error'),
      },
    },
  },
  task: {
    paths: {
      '/tasks/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'Read one of your tasks',
          responses: {
            200: { description: 'The task', content: { 'application/json': { schema: { $ref: '#/components/schemas/Task' } } } },
            404: { description: 'No such task', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          },
        },
      },
    },
    components: {
      schemas: {
        Task: { type: 'object', properties: { id: { type: 'string' }, title: { type: 'string' } } },
        Error: errorSchema('task error'),
      },
    },
  },
  analytics: {
    paths: { '/analytics/me': { get: { summary: 'Your statistics', responses: { 200: { description: 'Counters' } } } } },
    components: {},
  },
};

const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

app.get('/health/ready', async () => ({ status: 'ready' }));
app.get('/docs/json', async () => ({ openapi: '3.0.3', info: { title: name, version: '1' }, ...(DOCS[name] ?? { paths: {} }) }));
app.get('/__stats', async () => ({ served, connections }));

app.all('/*', async (request, reply) => {
  served += 1;
  if (!seen.has(request.raw.socket)) {
    seen.add(request.raw.socket);
    connections += 1;
  }
  const delay = Number(request.headers['x-stub-delay-ms'] ?? 0);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const size = Number(request.headers['x-stub-size'] ?? 0);
  return reply
    .code(Number(request.headers['x-stub-status'] ?? 200))
    .header('x-upstream', name)
    .header('set-cookie', ['a=1', 'b=2'])
    .send({
      upstream: name,
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body ?? null,
      ...(size > 0 ? { padding: 'x'.repeat(size) } : {}),
    });
});

await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
