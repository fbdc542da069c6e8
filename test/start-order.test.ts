/**
 * Start order by design: a service started before its database waits for it with a bounded,
 * logged back-off, instead of exiting (which Kubernetes answers with CrashLoopBackOff's growing
 * delays), and becomes ready once the database answers. The real process, from its build, against
 * a private MongoDB-wire server started only after it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, terminate, waitHttpOk } from '../scripts/balancer-lib.mjs';
import { DATA_DIR, ROOT, freePort, startMongo, stopInstance } from '../scripts/infra-lib.mjs';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('start order', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(() => {
    // The process runs the build, as in the image: bring it up to date (a no-op after `npm test`'s bootstrap).
    const build = spawnSync('npx', ['tsc', '-b', 'services/task'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    if (build.status !== 0) throw new Error(`tsc -b failed:\n${build.stdout}${build.stderr}`);
  }, 300_000);
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }, 60_000);

  it('when task starts before its database, then it waits with a logged back-off and is ready once the database answers', async () => {
    const [mongoPort, port] = [await freePort(), await freePort()];
    const logFile = path.join(DATA_DIR, `start-order-${port}`, 'task.log');
    const child = spawnService({
      service: 'task',
      port,
      logFile,
      root: ROOT,
      env: { MONGODB_URI: `mongodb://127.0.0.1:${mongoPort}`, MONGODB_DB: `start_order_${port}`, KAFKA_BROKERS: `127.0.0.1:${await freePort()}`, LOG_LEVEL: 'info' },
    });
    let exitCode: number | null | undefined;
    child.once('exit', (code) => (exitCode = code));
    cleanups.push(async () => {
      await terminate(child.pid!, 20_000);
      fs.rmSync(path.dirname(logFile), { recursive: true, force: true });
    });

    await sleep(6000);
    expect(exitCode, `task exited while its database was down (log: ${logFile})`).toBeUndefined();
    const waiting = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"mongodb: not yet; retrying"'))
      .map((l) => JSON.parse(l) as { attempt: number; retryInMs: number; level: number; service: string });
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    expect(waiting[0]).toMatchObject({ attempt: 1, retryInMs: 500, level: 40, service: 'task' });
    expect(waiting[1]).toMatchObject({ attempt: 2, retryInMs: 1000 });

    const mongo = await startMongo({ port: mongoPort });
    cleanups.push(() => stopInstance(mongo));
    await waitHttpOk(`http://127.0.0.1:${port}/health/ready`, { timeoutMs: 60_000, isAlive: () => exitCode === undefined });
    expect(fs.readFileSync(logFile, 'utf8')).toContain('"mongodb: ready"');
  }, 120_000);
});
