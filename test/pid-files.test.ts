import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const LIB = path.resolve(import.meta.dirname, '..', 'scripts', 'infra-lib.mjs');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let dataDir: string;
const others: number[] = [];
afterEach(() => {
  for (const pid of others.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `body` (module code with `lib` imported) in a Node process whose data folder is `dataDir`. */
function withLib(body: string): string {
  const script = `import * as lib from ${JSON.stringify(LIB)};\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TASKMESH_DATA_DIR: dataDir },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

describe.skipIf(!fs.existsSync('/proc/self/cwd'))('pid files of managed servers', () => {
  it('when a pid file names a live process that was not started in that folder (a reused pid), then stopping the instance leaves that process alone', () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-pids-'));
    const stranger = spawn('sleep', ['30'], { cwd: os.tmpdir(), stdio: 'ignore' });
    others.push(stranger.pid!);
    fs.mkdirSync(path.join(dataDir, 'redis-1'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'redis-1', 'pid'), `${stranger.pid}\n`);

    expect(withLib(`console.log(await lib.stopInstance(lib.instance('redis', 1)))`)).toBe('false');
    expect(alive(stranger.pid!)).toBe(true);
  });

  it('when the process was launched for the instance, then stopping the instance stops it', () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-pids-'));
    const pid = Number(withLib(`console.log(lib.launch(lib.instance('redis', 2), 'sleep', ['30']))`));
    others.push(pid);
    expect(alive(pid)).toBe(true);

    expect(withLib(`console.log(await lib.stopInstance(lib.instance('redis', 2)))`)).toBe('true');
    expect(alive(pid)).toBe(false);
  });
});
