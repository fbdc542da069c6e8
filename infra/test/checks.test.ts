import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// @ts-expect-error: a plain ESM script shared with the command line, without type declarations
import { ensureTools, KUBERNETES_VERSION, SKAFFOLD_API_VERSION } from '../scripts/install-tools.mjs';
import { K8S, REPO, SYNTHESIZED_DIRS } from './manifests.js';

interface Tools {
  kubeconform: string;
  kubeScore: string;
  kubernetesSchemas: string;
  kubeLinter: string | null;
  skaffoldSchema: string | null;
  unavailable: Record<string, string>;
}

/** Where the proxy serves them (GitHub Actions), CI sets this so that a missing tool fails. */
const REQUIRE_ALL = process.env.TASKMESH_REQUIRE_ALL_TOOLS === '1';
const manifestDirs = SYNTHESIZED_DIRS.map((d) => path.join(K8S, d));
let tools: Tools;

beforeAll(() => {
  tools = ensureTools() as Tools;
  for (const [name, reason] of Object.entries(tools.unavailable)) {
    console.warn(`${name} is not available here, its check is skipped: ${reason.split('\n')[0]}`);
  }
}, 900_000);

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function kubeconform(...targets: string[]) {
  const location = path.join(tools.kubernetesSchemas, '{{ .ResourceKind }}{{ .KindSuffix }}.json');
  return run(tools.kubeconform, [
    '-strict',
    '-summary',
    '-output',
    'text',
    '-kubernetes-version',
    KUBERNETES_VERSION,
    '-schema-location',
    location,
    ...targets,
  ]);
}

describe(`Kubernetes ${KUBERNETES_VERSION} schemas (kubeconform)`, () => {
  it('when every synthesized object is validated strictly, then all are valid and none is skipped', () => {
    const { status, out } = kubeconform(...manifestDirs);
    const summary = /Summary: (\d+) resources found in \d+ files - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)/.exec(out);
    expect(summary, out).not.toBeNull();
    const [, found, valid, invalid, errors, skipped] = summary!.map(Number);
    console.log(`kubeconform: ${found} objects, ${valid} valid`);
    expect({ status, invalid, errors, skipped }, out).toEqual({ status: 0, invalid: 0, errors: 0, skipped: 0 });
    expect(valid).toBeGreaterThan(100);
  });

  it('when an object has a wrong type or an unknown field, then it is reported invalid (the check can fail)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-kubeconform-'));
    try {
      const file = path.join(dir, 'bad.yaml');
      fs.writeFileSync(
        file,
        [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: { name: bad }',
          'spec:',
          '  replicas: two',
          '  selector: { matchLabels: { a: b } }',
          '  template:',
          '    metadata: { labels: { a: b } }',
          '    spec: { containers: [{ name: c, image: i, bogus: 1 }] }',
        ].join('\n'),
      );
      const { status, out } = kubeconform(file);
      expect(status).not.toBe(0);
      expect(out).toContain('Invalid: 1');
      expect(out).toContain("'bogus' not allowed");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('linting', () => {
  // Ignored on purpose: kind loads images into the node, so they are pulled IfNotPresent.
  const ignored = ['container-image-pull-policy'];

  it('when kube-score checks every object, then it finds nothing critical', () => {
    const files = manifestDirs.flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f)));
    const args = ['score', '--kubernetes-version', 'v1.34', '--output-format', 'ci', '--enable-optional-test', 'container-seccomp-profile'];
    for (const t of ignored) args.push('--ignore-test', t);
    const { out } = run(tools.kubeScore, [...args, ...files]);
    const lines = out.split('\n');
    const critical = lines.filter((l) => l.startsWith('[CRITICAL]'));
    const warnings = lines.filter((l) => l.startsWith('[WARNING]'));
    console.log(
      `kube-score: ${lines.filter((l) => l.startsWith('[OK]')).length} ok, ${warnings.length} warnings, ${critical.length} critical`,
    );
    expect(lines.filter((l) => l.startsWith('[OK]')).length).toBeGreaterThan(100);
    expect(critical).toEqual([]);
  });

  it('when kube-linter checks every object, then it reports no error', (ctx) => {
    if (!tools.kubeLinter) {
      if (REQUIRE_ALL) throw new Error(`kube-linter is required: ${tools.unavailable['kube-linter']}`);
      ctx.skip('kube-linter is not installable here (see the warning above)');
      return;
    }
    const { status, out } = run(tools.kubeLinter, ['lint', '--config', path.join(REPO, 'infra', 'kube-linter.yaml'), ...manifestDirs]);
    expect(status, out).toBe(0);
  });
});

describe('skaffold.yaml', () => {
  it(`when validated against Skaffold's own JSON schema for ${SKAFFOLD_API_VERSION}, then it conforms`, () => {
    const config = parse(fs.readFileSync(path.join(REPO, 'skaffold.yaml'), 'utf8'));
    expect(config.apiVersion).toBe(SKAFFOLD_API_VERSION);
    const ajv = new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(tools.skaffoldSchema!, 'utf8')));
    expect(validate(config), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });
});
