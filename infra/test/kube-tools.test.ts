import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureHelm, ensureKubectl, HELM_VERSION, KUBE_TOOLS_DIR, KUBECTL_VERSION } from '../../scripts/kube-tools.mjs';
import { REPO } from './manifests.js';

const SCRIPT = path.join(REPO, 'scripts', 'kube-tools.mjs');

function version(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('scripts/kube-tools.mjs', () => {
  it('when helm and kubectl are ensured, then the pinned versions run from the cache', () => {
    const helm = ensureHelm();
    const kubectl = ensureKubectl();
    expect(path.dirname(helm)).toBe(KUBE_TOOLS_DIR);
    expect(path.dirname(kubectl)).toBe(KUBE_TOOLS_DIR);
    expect(version(helm, ['version', '--template', '{{ .Version }}']).trim()).toBe(HELM_VERSION);
    expect(JSON.parse(version(kubectl, ['version', '--client', '-o', 'json'])).clientVersion.gitVersion).toBe(KUBECTL_VERSION);
  }, 600_000);

  it('when run from the command line, then it prints the paths, or a clear error for a bad override or argument', () => {
    const both = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', timeout: 600_000 });
    expect(both.status, both.stderr).toBe(0);
    expect(both.stdout.trim().split('\n')).toEqual([path.join(KUBE_TOOLS_DIR, 'helm'), path.join(KUBE_TOOLS_DIR, 'kubectl')]);

    const bad = spawnSync(process.execPath, [SCRIPT, 'kubectl'], {
      encoding: 'utf8',
      env: { ...process.env, TASKMESH_KUBECTL: '/nonexistent/kubectl' },
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('TASKMESH_KUBECTL=/nonexistent/kubectl does not run');

    const usage = spawnSync(process.execPath, [SCRIPT, 'kustomize'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('usage: node scripts/kube-tools.mjs [helm|kubectl]');
  }, 600_000);
});
