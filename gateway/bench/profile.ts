// CPU profile of one benchmark target under saturation: `node --import tsx gateway/bench/profile.ts
// [target] [seconds]` (default: gateway, 10 s). The target runs pinned to core 0 with --cpu-prof;
// the load generator, the upstream and a private Redis share core 1. The .cpuprofile is written
// to PROFILE_DIR (default: the system's temporary directory) and its top functions are printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createTestIssuer } from '@taskmesh/access-token/testing';
import autocannon from 'autocannon';
import { freePort, startRedis, stopInstance } from '../../scripts/infra-lib.mjs';

const here = import.meta.dirname;
const target = process.argv[2] ?? 'gateway';
const seconds = Number(process.argv[3] ?? 10);
const dir = fs.mkdtempSync(path.join(process.env.PROFILE_DIR ?? os.tmpdir(), `profile-${target}-`));
const canPin = process.platform === 'linux' && os.availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
if (canPin) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

async function launch(
  key: string,
  core: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const args = [...extra, '--import', 'tsx', path.join(here, 'targets.ts'), key];
  const [cmd, argv] = canPin ? ['taskset', ['-c', core, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv as string[], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], cwd: here });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${key} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

async function main(): Promise<void> {
  const issuer = await createTestIssuer();
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => issuer.token(`profile-user-${i}`)));
  const redis = await startRedis({ port: await freePort() });
  const children: ChildProcess[] = [];
  try {
    const up = await launch('upstream', '1', {});
    children.push(up.child);
    const env = { UPSTREAM_URL: up.url, REDIS_URL: redis.url as string, JWKS_URL: issuer.jwksUrl };
    const sut = await launch(target, '0', env, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    children.push(sut.child);
    let next = 0;
    const run = (duration: number) =>
      autocannon({
        url: `${sut.url}/tasks/task-42`,
        duration,
        connections: 50,
        setupClient: (client) => client.setHeaders({ authorization: `Bearer ${tokens[next++ % tokens.length]}` }),
      });
    await run(2);
    const result = await run(seconds);
    console.log(`${target}: ${Math.round(result.requests.average)} rps, non-2xx ${result.non2xx}, errors ${result.errors}`);
    const exited = new Promise((resolve) => sut.child.once('exit', resolve));
    sut.child.kill('SIGTERM');
    await exited;
    // The loader's worker thread writes a small profile of its own; the main thread's is the largest.
    const file = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size)[0];
    if (!file) throw new Error('no profile written');
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { nodes: Node[] };
    const total = profile.nodes.reduce((n, x) => n + x.hitCount, 0);
    const self = new Map<string, number>();
    for (const n of profile.nodes) {
      const f = n.callFrame;
      const where = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/work\/main\//, '')}:${f.lineNumber + 1}`;
      self.set(where, (self.get(where) ?? 0) + n.hitCount);
    }
    console.log(`profile: ${path.join(dir, file)} (${total} samples); self time:`);
    for (const [where, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45))
      console.log(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${where}`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await stopInstance(redis);
    await issuer.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
