import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const LIB = path.resolve(import.meta.dirname, '..', 'scripts', 'infra-lib.mjs');
let dir: string;

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A separate Node process that builds `product` through buildOnce, counting its builds in `builds`. */
function builder(): Promise<{ code: number | null; stderr: string }> {
  const script = `
    import fs from 'node:fs';
    import { buildOnce } from ${JSON.stringify(LIB)};
    const product = ${JSON.stringify(path.join(dir, 'product'))};
    await buildOnce(${JSON.stringify(path.join(dir, 'product.lock'))}, {
      component: 'test',
      timeoutMs: 30_000,
      done: () => fs.existsSync(product),
      build: async () => {
        fs.appendFileSync(${JSON.stringify(path.join(dir, 'builds'))}, process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 1500));
        fs.writeFileSync(product, 'built');
      },
    });
    if (fs.readFileSync(product, 'utf8') !== 'built') process.exit(3);
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('buildOnce: one builder per cache entry', () => {
  it('when three processes need the same build at once, then one builds, the others wait for it, and all see the product', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-build-once-'));
    const results = await Promise.all([builder(), builder(), builder()]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(fs.readFileSync(path.join(dir, 'builds'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(results.filter((r) => /another process \(pid \d+\) is building it; waiting/.test(r.stderr)).length).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(path.join(dir, 'product.lock'))).toBe(false);
  });

  it('when a killed builder left its lock behind, then the next one takes it over and builds', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-build-once-'));
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    fs.mkdirSync(path.join(dir, 'product.lock'));
    fs.writeFileSync(path.join(dir, 'product.lock', 'pid'), `${dead.pid}\n`);
    const result = await builder();
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'builds'), 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
