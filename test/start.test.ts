import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../scripts/infra-lib.mjs';

const root = path.join(import.meta.dirname, '..');

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  it('when started, then the four services become ready behind the gateway, and Ctrl-C stops every one of them', async () => {
    for (const ws of ['gateway', 'services/auth', 'services/task', 'services/analytics']) {
      expect(fs.existsSync(path.join(root, ws, 'dist', 'server.js')), `${ws} is not built: run \`npm run build\``).toBe(true);
    }
    const ports = { AUTH_PORT: await freePort(), TASK_PORT: await freePort(), ANALYTICS_PORT: await freePort(), GATEWAY_PORT: await freePort() };
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.mjs')], {
      cwd: root,
      env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), AUTH_KEY_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'keys-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 90_000;
      while (!out.includes('taskmesh is up') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
      expect(out, out.slice(-3000)).toContain('taskmesh is up');
      expect(out).toContain(`http://127.0.0.1:${ports.GATEWAY_PORT}`);

      const ready = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/health/ready`);
      expect(ready.status).toBe(200);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const port of Object.values(ports)) expect(await listening(port)).toBe(false);
      expect(out).toContain('all services stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
