import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../scripts/infra-lib.mjs';

const run = promisify(execFile);
const cli = path.join(import.meta.dirname, '..', 'scripts', 'infra.mjs');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run infra:up / infra:status / infra:down', () => {
  it('when a private stack is brought up twice, checked and brought down, then it is reused the second time and no process is left', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-cli-'));
    const [redis, kafka, mongo] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...process.env,
      TASKMESH_DATA_DIR: dataDir,
      REDIS_URL: `redis://127.0.0.1:${redis}`,
      KAFKA_BROKERS: `127.0.0.1:${kafka}`,
      MONGODB_URI: `mongodb://127.0.0.1:${mongo}`,
    };
    try {
      const first = await run('node', [cli, 'up'], { env, timeout: 120_000 });
      expect(first.stderr).toMatch(/redis\s+127\.0\.0\.1:\d+\s+started/);
      expect(first.stderr).toMatch(/kafka\s+127\.0\.0\.1:\d+\s+started/);
      expect(first.stderr).toMatch(/mongodb\s+127\.0\.0\.1:\d+\s+started/);

      const second = await run('node', [cli, 'up'], { env, timeout: 60_000 });
      expect(second.stderr.match(/already running/g)).toHaveLength(3);

      const status = await run('node', [cli, 'status'], { env, timeout: 30_000 });
      expect(status.stdout.match(/healthy/g)).toHaveLength(3);

      const pids = fs.readdirSync(dataDir).map((d) => Number(fs.readFileSync(path.join(dataDir, d, 'pid'), 'utf8')));
      expect(pids).toHaveLength(3);
      expect(pids.every(alive)).toBe(true);

      const down = await run('node', [cli, 'down'], { env, timeout: 60_000 });
      expect(down.stderr).toMatch(/stopped/);
      expect(pids.some(alive)).toBe(false);
      expect(fs.existsSync(dataDir)).toBe(false);

      const after = await run('node', [cli, 'status'], { env, timeout: 30_000 }).catch((e: { stdout: string; code: number }) => e);
      expect(after.stdout.match(/DOWN/g)).toHaveLength(3);
    } finally {
      await run('node', [cli, 'down'], { env, timeout: 60_000 }).catch(() => {});
    }
  });

  it('when a configured server is not ours (another address) and unreachable, then up fails naming it instead of starting a local one', async () => {
    const env = { ...process.env, TASKMESH_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-cli-')), REDIS_URL: 'redis://127.0.0.2:6399' };
    const res = await run('node', [cli, 'up'], { env, timeout: 60_000 }).catch((e: { stderr: string; code: number }) => e);
    expect('code' in res ? res.code : 0).toBe(1);
    expect(res.stderr).toMatch(/redis: not reachable at 127\.0\.0\.2:6399/);
  });
});

describe('kafka cluster ids', () => {
  it('when many are made, then none starts with "-" (the storage tool would read it as an option) and all are 22 base64url characters', async () => {
    const { kafkaClusterId } = await import('../scripts/infra-lib.mjs');
    const ids: string[] = Array.from({ length: 5000 }, () => kafkaClusterId());
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    expect(ids.every((id) => /^[A-Za-z0-9_-]{22}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
