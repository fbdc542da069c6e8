#!/usr/bin/env node
// Installs what the manifest checks need, on a fresh machine, from the ordinary registries:
//   kubeconform and kube-score    go install (Go module proxy)
//   kube-linter                   go install; optional where the proxy does not serve it
//   Kubernetes 1.34 JSON schemas  the PyPI package kubernetes-validate (downloaded, not installed)
//   Skaffold's JSON schema        the skaffold Go module
// Idempotent and cached under $TASKMESH_CACHE_DIR/tools (default ~/.cache/taskmesh/tools): each
// item is built in a temporary folder and renamed into place, so concurrent runs never see half
// of one. Every download is bounded in time and fails with a message that says what to do.
//
// Usage: node infra/scripts/install-tools.mjs   (prints the paths as JSON)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const VERSIONS = Object.freeze({
  kubeconform: 'v0.7.0',
  kubeScore: 'v1.20.0',
  kubeLinter: 'v0.7.6',
  // v2.13.2 is the newest release the Go module proxy serves here; it ships the v4beta11 schema.
  skaffold: 'v2.13.2',
  kubernetesValidate: '1.37.0',
});

/** The Kubernetes version the manifests target: kind's node image and `npm run cluster:up` run 1.34. */
export const KUBERNETES_VERSION = '1.34.0';
/** skaffold.yaml's apiVersion; the pinned skaffold module ships its schema. */
export const SKAFFOLD_API_VERSION = 'skaffold/v4beta11';

/** An optional tool that cannot be had is remembered this long before trying again. */
const NEGATIVE_CACHE_MS = 6 * 3600 * 1000;

export function cacheRoot() {
  return path.join(process.env.TASKMESH_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'taskmesh'), 'tools');
}

const say = (msg) => process.stderr.write(`[install-tools] ${msg}\n`);

class ToolError extends Error {}

function run(cmd, args, { timeoutMs, env, cwd } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error?.code === 'ENOENT') throw new ToolError(`${cmd} is not installed (needed for: ${cmd} ${args.join(' ')})`);
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM') {
    throw new ToolError(`${cmd} ${args.join(' ')} did not finish within ${(timeoutMs ?? 300_000) / 1000} s`);
  }
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-6).join('\n');
    throw new ToolError(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${tail}`);
  }
  return r.stdout;
}

/** Builds `final` with `build(tmpDir)` unless it exists; the rename makes it appear whole. */
function once(final, build) {
  if (fs.existsSync(final)) return final;
  fs.mkdirSync(path.dirname(final), { recursive: true });
  const tmp = fs.mkdtempSync(`${final}.tmp-`);
  try {
    const t0 = Date.now();
    const produced = build(tmp);
    try {
      fs.renameSync(produced, final);
    } catch (err) {
      // Another process won the race: its copy is as good as ours.
      if (!fs.existsSync(final)) throw err;
    }
    say(`${path.basename(final)} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return final;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function goInstall(name, pkg, version) {
  const final = path.join(cacheRoot(), 'bin', `${name}-${version}`);
  return once(final, (tmp) => {
    say(`go install ${pkg}@${version}`);
    run('go', ['install', `${pkg}@${version}`], {
      timeoutMs: 420_000,
      env: { GOBIN: tmp, GOFLAGS: '-mod=mod', CGO_ENABLED: '0', GOTOOLCHAIN: 'local' },
    });
    return path.join(tmp, name);
  });
}

/**
 * The strict 1.34 schemas of kubernetes-validate, rewritten for kubeconform: each kind's file
 * refers to `https://kubernetes.io/api/_definitions.json`, which kubeconform would try to fetch;
 * pointing the references at the sibling file keeps validation offline.
 */
function kubernetesSchemas() {
  const version = VERSIONS.kubernetesValidate;
  const final = path.join(cacheRoot(), `kubernetes-schemas-${version}`, `v${KUBERNETES_VERSION}-standalone-strict`);
  return once(final, (tmp) => {
    say(`pip download kubernetes-validate==${version}`);
    run(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--disable-pip-version-check',
        '-q',
        '-d',
        tmp,
        `kubernetes-validate==${version}`,
      ],
      {
        timeoutMs: 240_000,
      },
    );
    const wheel = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new ToolError('pip download produced no wheel of kubernetes-validate');
    const prefix = `kubernetes_validate/kubernetes-json-schema/v${KUBERNETES_VERSION}-local-strict/`;
    const extracted = path.join(tmp, 'x');
    run('python3', [
      '-c',
      'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(sys.argv[3])])',
      path.join(tmp, wheel),
      extracted,
      prefix,
    ]);
    const source = path.join(extracted, prefix);
    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    let count = 0;
    for (const file of fs.readdirSync(source)) {
      if (!file.endsWith('.json')) continue;
      const schema = JSON.parse(fs.readFileSync(path.join(source, file), 'utf8'));
      // Without an $id, references resolve against the file's own path.
      delete schema.$id;
      const text = JSON.stringify(schema).replaceAll('"/api/_definitions.json#', '"_definitions.json#');
      fs.writeFileSync(path.join(out, file), text);
      count++;
    }
    if (count < 100) throw new ToolError(`kubernetes-validate ${version} holds only ${count} schemas for ${KUBERNETES_VERSION}`);
    return out;
  });
}

/** Skaffold's JSON schema for SKAFFOLD_API_VERSION, from the skaffold Go module. */
function skaffoldSchema() {
  const apiVersion = SKAFFOLD_API_VERSION.split('/')[1];
  const final = path.join(cacheRoot(), `skaffold-schema-${VERSIONS.skaffold}`, `${apiVersion}.json`);
  if (fs.existsSync(final)) return final;
  once(path.dirname(final), (tmp) => {
    const mod = `github.com/GoogleContainerTools/skaffold/v2@${VERSIONS.skaffold}`;
    say(`go mod download ${mod}`);
    const info = JSON.parse(run('go', ['mod', 'download', '-json', mod], { timeoutMs: 420_000, cwd: tmp, env: { GOFLAGS: '-mod=mod' } }));
    if (info.Error || !info.Dir) throw new ToolError(`go mod download ${mod}: ${info.Error ?? 'no Dir in its answer'}`);
    const schema = path.join(info.Dir, 'docs-v2', 'content', 'en', 'schemas', `${apiVersion}.json`);
    if (!fs.existsSync(schema)) throw new ToolError(`${mod} has no ${path.relative(info.Dir, schema)}`);
    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    fs.copyFileSync(schema, path.join(out, `${apiVersion}.json`));
    return out;
  });
  return final;
}

/** Runs an optional installer; remembers a failure for a while so that test runs stay fast. */
function optional(name, install, unavailable) {
  const marker = path.join(cacheRoot(), `.unavailable-${name}`);
  if (fs.existsSync(marker) && Date.now() - fs.statSync(marker).mtimeMs < NEGATIVE_CACHE_MS) {
    unavailable[name] = fs.readFileSync(marker, 'utf8');
    return null;
  }
  try {
    const result = install();
    fs.rmSync(marker, { force: true });
    return result;
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
    unavailable[name] = err.message;
    fs.mkdirSync(cacheRoot(), { recursive: true });
    fs.writeFileSync(marker, err.message);
    say(`${name} unavailable: ${err.message.split('\n')[0]}`);
    return null;
  }
}

/**
 * Makes sure every tool is there and returns their paths. Required tools throw an Error saying
 * what failed; optional ones come back as null with the reason in `unavailable`.
 */
export function ensureTools() {
  try {
    const unavailable = {};
    return {
      kubeconform: goInstall('kubeconform', 'github.com/yannh/kubeconform/cmd/kubeconform', VERSIONS.kubeconform),
      kubeScore: goInstall('kube-score', 'github.com/zegl/kube-score/cmd/kube-score', VERSIONS.kubeScore),
      kubernetesSchemas: kubernetesSchemas(),
      kubeLinter: optional(
        'kube-linter',
        () => goInstall('kube-linter', 'golang.stackrox.io/kube-linter/cmd/kube-linter', VERSIONS.kubeLinter),
        unavailable,
      ),
      skaffoldSchema: skaffoldSchema(),
      unavailable,
    };
  } catch (err) {
    if (err instanceof ToolError) {
      throw new Error(`could not install the manifest checking tools into ${cacheRoot()}: ${err.message}`);
    }
    throw err;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  process.stdout.write(`${JSON.stringify(ensureTools(), null, 2)}\n`);
}
