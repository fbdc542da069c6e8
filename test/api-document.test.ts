import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PUBLIC_API } from '../gateway/src/routes/public-api.js';
import { startFullStack, type FullStack } from './full-stack.js';

const root = path.join(import.meta.dirname, '..');

type Json = Record<string, unknown>;
type Operation = { operationId?: string; responses: Record<string, { content?: Record<string, { schema?: Json }> }> };

const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** The TypeScript program that a client generated from the document must accept: the calls of scripts/smoke.mjs. */
const SMOKE_CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

export async function smoke(baseUrl: string, email: string, password: string): Promise<number> {
  const api = createClient<paths>({ baseUrl });
  const registered = await api.POST('/auth/register', { body: { email, password } });
  if (!registered.data) throw new Error(registered.error?.code);
  const registeredEmail: string = registered.data.email;

  const login = await api.POST('/auth/login', { body: { email: registeredEmail, password } });
  if (!login.data) throw new Error(login.error?.code);
  const { accessToken, refreshToken, expiresIn } = login.data;
  const tokenType: 'Bearer' = login.data.tokenType;
  const headers = { authorization: \`\${tokenType} \${accessToken}\` };

  const me = await api.GET('/auth/me', { headers });
  const myEmail: string | undefined = me.data?.email;

  const refused = await api.GET('/tasks');
  const refusedCode: string | undefined = refused.error?.code;
  const refusedMessage: string | undefined = refused.error?.message;

  const created = await api.POST('/tasks', {
    headers,
    body: { title: 'smoke: write the report', description: 'made by the smoke test', dueAt: new Date().toISOString(), tags: ['smoke'] },
  });
  if (!created.data) throw new Error(created.error?.code);
  const { id, version, status } = created.data;
  const etag = created.response.headers.get('etag') ?? '*';
  const stillOpen: boolean = status !== 'done';

  const page = await api.GET('/tasks', { headers, params: { query: { limit: 100 } } });
  const ids: string[] = (page.data?.items ?? []).map((t) => t.id);
  const next: string | null | undefined = page.data?.nextCursor;

  const done = await api.PATCH('/tasks/{id}', { headers, params: { path: { id }, header: { 'if-match': etag } }, body: { status: 'done' } });
  const newVersion: number | undefined = done.data?.version;
  const stale = await api.PATCH('/tasks/{id}', { headers, params: { path: { id }, header: { 'if-match': etag } }, body: { status: 'in_progress' } });
  const staleCode: string | undefined = stale.error?.code;

  const read = await api.GET('/tasks/{id}', { headers, params: { path: { id } } });
  const readStatus: 'todo' | 'in_progress' | 'done' | undefined = read.data?.status;
  const removed = await api.DELETE('/tasks/{id}', { headers, params: { path: { id } } });
  const gone = await api.GET('/tasks/{id}', { headers, params: { path: { id } } });
  const goneCode: string | undefined = gone.error?.code;

  const stats = await api.GET('/analytics/me', { headers });
  const counted: number = (stats.data?.tasksCreated ?? 0) + (stats.data?.tasksCompleted ?? 0) + (stats.data?.tasksDeleted ?? 0) + (stats.data?.tasksOpen ?? 0);

  void [refreshToken, expiresIn, myEmail, refusedCode, refusedMessage, version, stillOpen, ids, next, newVersion, staleCode, readStatus, removed.response.status, goneCode];
  return counted;
}
`;

/** The same calls with two mistakes a typed client must catch: no title, and a status that does not exist. */
const WRONG_CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

export async function wrong(baseUrl: string): Promise<void> {
  const api = createClient<paths>({ baseUrl });
  await api.POST('/tasks', { body: { description: 'no title' } });
  await api.PATCH('/tasks/{id}', { params: { path: { id: 'x' } }, body: { status: 'finished' } });
}
`;

/** A request with any method (fetch refuses TRACE): status, Allow and the body's code. */
function send(method: string, url: string): Promise<{ status: number; allow: string | undefined; code: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          allow: res.headers.allow,
          code: body ? (JSON.parse(body) as { code?: unknown }).code : undefined,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function typecheck(dir: string, file: string): { ok: boolean; output: string } {
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2023', 'DOM'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    },
    files: [file],
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('the public OpenAPI document', () => {
  let stack: FullStack;
  let doc: Json & { openapi: string; paths: Record<string, Record<string, Operation>>; components: Json };

  beforeAll(async () => {
    stack = await startFullStack(inject('infra'));
    const res = await fetch(`${stack.gatewayUrl}/docs/json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as typeof doc;
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
  });

  it('when the gateway merges the services’ documents, then the result is valid OpenAPI 3.1 with one bearer scheme', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.securitySchemes as Json)).toEqual(['bearerAuth']);

    for (const app of [stack.auth, stack.task, stack.analytics]) {
      const own = (await app.inject({ method: 'GET', url: '/docs/json' })).json<Json & { openapi: string; components: Json }>();
      const ownResult = await new Validator().validate(own);
      expect(ownResult.errors, JSON.stringify(ownResult.errors, null, 2)).toBeUndefined();
      expect(own.openapi).toBe('3.1.0');
      expect(Object.keys(own.components.securitySchemes as Json)).toEqual(['bearerAuth']);
    }
  });

  it('when an operation can fail, then each of its 4xx answers lists the codes it carries, and every 429 and 503 says when to retry', () => {
    for (const route of PUBLIC_API) {
      const op = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.url}`).toBeDefined();
      expect(op!.operationId, `${route.method} ${route.url}`).toEqual(expect.any(String));
      const statuses = Object.keys(op!.responses);
      expect(
        statuses.some((s) => s.startsWith('2')),
        `${route.method} ${route.url}`,
      ).toBe(true);
      expect(statuses, `${route.method} ${route.url}`).toEqual(expect.arrayContaining(['429', '502', '503', '504']));
      if (route.access !== 'public') expect(statuses).toContain('401');
      for (const [status, answer] of Object.entries(op!.responses)) {
        if (!/^[45]/.test(status)) continue;
        const schema = answer.content?.['application/json']?.schema as { properties?: { code?: { enum?: string[] } } } | undefined;
        const codes = schema?.properties?.code?.enum;
        expect(codes, `${route.method} ${route.url} ${status}`).toEqual(expect.arrayContaining([expect.stringMatching(/^[A-Z_]+$/)]));
        if (status === '429' || status === '503') {
          expect(Object.keys((answer as { headers?: Json }).headers ?? {}), `${route.method} ${route.url} ${status}`).toContain(
            'retry-after',
          );
        }
      }
    }
    const register = doc.paths['/auth/register']!.post!;
    expect(register.responses['400']!.content!['application/json']!.schema!.properties).toMatchObject({
      code: { enum: expect.arrayContaining(['AUTH_ERR_WEAK_PASSWORD', 'AUTH_ERR_INVALID_EMAIL', 'ERR_VALIDATION']) },
    });
    const password = (register as unknown as { requestBody: { content: Record<string, { schema: { properties: Record<string, Json> } }> } })
      .requestBody.content['application/json']!.schema.properties.password!;
    expect(password.description).toMatch(/8 to 128 characters.*most common leaked passwords/);
    const patch = doc.paths['/tasks/{id}']!.patch! as unknown as { parameters: { name: string; schema: Json }[]; responses: Json };
    expect(patch.parameters.find((p) => p.name === 'if-match')?.schema.pattern).toEqual(expect.any(String));
    expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404', '409', '412', '413', '415', '429']));
  });

  it('when /docs is opened, then Swagger UI answers and its document holds every public operation with its answers', async () => {
    const ui = await fetch(`${stack.gatewayUrl}/docs`, { redirect: 'follow' });
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toContain('text/html');
    expect(await ui.text()).toContain('swagger');
    const operations = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
    expect(operations.sort()).toEqual(PUBLIC_API.map((r) => `${r.method} ${openApiPath(r.url)}`).sort());
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(item)) expect(Object.keys(op.responses).length, `${m} ${p}`).toBeGreaterThan(4);
    }
  });

  it('when a known path is asked with a method it does not serve, then 405 with Allow, at the gateway and in each service; an unknown path stays 404', async () => {
    const services: [string, string, string][] = [
      [`http://127.0.0.1:${(stack.auth.server.address() as { port: number }).port}`, '/auth/me', 'GET, HEAD'],
      [`http://127.0.0.1:${(stack.task.server.address() as { port: number }).port}`, '/tasks', 'GET, HEAD, POST'],
      [`http://127.0.0.1:${(stack.analytics.server.address() as { port: number }).port}`, '/analytics/me', 'GET, HEAD'],
      [stack.gatewayUrl, '/tasks/665f1c2e9b1d4a0012345678', 'DELETE, GET, HEAD, PATCH'],
      [stack.gatewayUrl, '/auth/register', 'POST'],
    ];
    for (const [origin, url, allow] of services) {
      for (const method of ['PUT', 'TRACE', 'QUERY']) {
        expect(await send(method, `${origin}${url}`), `${method} ${origin}${url}`).toEqual({
          status: 405,
          allow,
          code: 'ERR_METHOD_NOT_ALLOWED',
        });
      }
    }
    const taskOrigin = `http://127.0.0.1:${(stack.task.server.address() as { port: number }).port}`;
    expect(await send('GET', `${taskOrigin}/tasks/665f1c2e9b1d4a0012345678/comments`)).toEqual({
      status: 404,
      allow: undefined,
      code: 'ERR_NOT_FOUND',
    });
    expect(await send('TRACE', `${taskOrigin}/nowhere`)).toEqual({ status: 404, allow: undefined, code: 'ERR_NOT_FOUND' });
    // The gateway answers an unknown path 401 without a token, so that it does not tell which paths exist.
    expect((await fetch(`${stack.gatewayUrl}/nowhere`)).status).toBe(401);
  });

  it("when a client is generated from /docs/json with openapi-typescript, then the smoke script's calls type-check, and wrong ones do not", async () => {
    fs.mkdirSync(path.join(root, 'node_modules', '.cache'), { recursive: true });
    const dir = fs.mkdtempSync(path.join(root, 'node_modules', '.cache', 'api-client-'));
    try {
      const ast = await openapiTS(doc as never);
      fs.writeFileSync(path.join(dir, 'api.ts'), astToString(ast));
      fs.writeFileSync(path.join(dir, 'smoke-client.ts'), SMOKE_CLIENT);
      fs.writeFileSync(path.join(dir, 'wrong-client.ts'), WRONG_CLIENT);
      const good = typecheck(dir, 'smoke-client.ts');
      expect(good.output).toBe('');
      expect(good.ok).toBe(true);
      const bad = typecheck(dir, 'wrong-client.ts');
      expect(bad.ok).toBe(false);
      expect(bad.output).toContain("Property 'title' is missing");
      expect(bad.output).toContain('"finished"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
