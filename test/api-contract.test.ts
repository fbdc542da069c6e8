import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFullStack, type FullStack } from './full-stack.js';
import { SCHEMATHESIS_VERSION, ensureSchemathesis, hasThreadedAstBug, runSchemathesis, schemathesisPython } from './schemathesis.js';

/** Bounds of the run: cases per operation and phase, one request, the whole run. */
const MAX_EXAMPLES = 50;
const REQUEST_TIMEOUT_S = 10;
const RUN_TIMEOUT_MS = 6 * 60_000;

describe('the public API contract, held by schemathesis', () => {
  let bin: string;
  let stack: FullStack;

  beforeAll(async () => {
    bin = await ensureSchemathesis();
    stack = await startFullStack(inject('infra'), {
      // The run is about what the services behind the gateway accept and answer. At the real
      // limits (5 logins a minute) nearly every case would meet the limiter's 429, which the
      // document declares and gateway/test/rate-limits.test.ts tests on its own.
      gatewayEnv: { RATE_LIMIT_AUTH_PER_MINUTE: '1000000', RATE_LIMIT_API_PER_MINUTE: '1000000' },
    });
  }, 12 * 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  const call = async (method: string, url: string, body?: unknown, token?: string) => {
    const res = await fetch(`${stack.gatewayUrl}${url}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it(
    'when schemathesis runs its examples, coverage, fuzzing and stateful phases with every check against the gateway, then it finds no failure',
    async () => {
      // A registered user's token, and a list cursor the service issued to that user.
      const email = `contract.${Date.now()}@example.com`;
      const password = 'a contract that holds';
      const registered = await call('POST', '/auth/register', { email, password });
      expect(registered.status, JSON.stringify(registered.body)).toBe(201);
      const login = await call('POST', '/auth/login', { email, password });
      expect(login.status).toBe(200);
      const token = login.body.accessToken as string;
      for (const title of ['first', 'second']) expect((await call('POST', '/tasks', { title }, token)).status).toBe(201);
      const page = await call('GET', '/tasks?limit=1', undefined, token);
      expect(page.body.nextCursor).toEqual(expect.any(String));

      const run = await runSchemathesis(
        bin,
        [
          `${stack.gatewayUrl}/docs/json`,
          '--phases',
          'examples,coverage,fuzzing,stateful',
          '--checks',
          'all',
          '--max-examples',
          String(MAX_EXAMPLES),
          '--request-timeout',
          String(REQUEST_TIMEOUT_S),
          '--workers',
          // Two workers, unless this Python breaks when two threads build ASTs (see hasThreadedAstBug).
          hasThreadedAstBug(schemathesisPython()) ? '1' : '2',
          '--header',
          `Authorization: Bearer ${token}`,
        ],
        {
          timeoutMs: RUN_TIMEOUT_MS,
          configFile: path.join(import.meta.dirname, 'schemathesis.toml'),
          env: {
            TASKMESH_CURSOR: page.body.nextCursor as string,
            // Rules between parameters that JSON Schema cannot state (see the file).
            SCHEMATHESIS_HOOKS: path.join(import.meta.dirname, 'schemathesis_hooks.py'),
          },
        },
      );
      const report = run.report;
      expect(report, `schemathesis wrote no report (exit ${run.exitCode}):\n${run.output.slice(-4000)}`).toBeDefined();
      const phases = Object.entries(report!.phases)
        .map(([name, p]) => `${name} ${p.status}`)
        .join(', ');
      console.log(
        `schemathesis ${report!.schemathesis_version}: ${report!.test_cases.generated} cases over ${report!.operations.tested} operations ` +
          `(${phases}); ${report!.failures.reduce((n, f) => n + f.count, 0)} failures, ${report!.errors.length} errors`,
      );

      expect(report!.schemathesis_version).toBe(SCHEMATHESIS_VERSION);
      expect(report!.failures, run.output.slice(-12_000)).toEqual([]);
      expect(report!.errors, run.output.slice(-12_000)).toEqual([]);
      expect(run.exitCode, run.output.slice(-4000)).toBe(0);
      expect(report!.complete).toBe(true);
      expect(report!.operations.tested).toBe(report!.operations.total);
      for (const phase of ['examples', 'coverage', 'fuzzing', 'stateful']) expect(report!.phases[phase]?.status, phase).toBe('success');
      expect(report!.test_cases.generated).toBeGreaterThan(100);
    },
    RUN_TIMEOUT_MS + 60_000,
  );
});
