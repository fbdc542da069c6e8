import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// @ts-expect-error: a plain ESM script shared with the command line, without type declarations
import { ensureActionlint, ensureDebianTool, ensureShellcheck, runActionlint, workflowFiles } from '../scripts/actionlint.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Job {
  permissions?: Record<string, string>;
  'timeout-minutes'?: number;
  services?: Record<string, { image: string; env?: Record<string, unknown>; ports?: string[] }>;
  env?: Record<string, string>;
  strategy?: { matrix?: { include?: Array<Record<string, string>> } };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const read = (name: string) => fs.readFileSync(path.join(WORKFLOWS, name), 'utf8');
const load = (name: string) => parse(read(name)) as Workflow;
const allRuns = (wf: Workflow) =>
  Object.values(wf.jobs)
    .flatMap((j) => j.steps.map((s) => s.run ?? ''))
    .join('\n');
const allUses = (wf: Workflow) =>
  Object.values(wf.jobs)
    .flatMap((j) => j.steps.map((s) => s.uses ?? ''))
    .filter(Boolean);

/**
 * Every `uses:` of a workflow's text that is not pinned to a full commit SHA with a version
 * comment after it (`owner/repo@<40 hex> # v1.2.3`). Local actions (`./...`) are exempt.
 */
function unpinnedUses(text: string): string[] {
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
    if (!m || m[1]!.startsWith('./')) continue;
    const pinned = /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(m[1]!) && /^\s+#\s*v\d+(\.\d+){0,2}\s*$/.test(m[2]!);
    if (!pinned) bad.push(line.trim());
  }
  return bad;
}

describe('workflows under actionlint', () => {
  let shellcheck: string | undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-actionlint-'));

  beforeAll(() => {
    // Built with `go install` on a machine that lacks it (about a minute), then cached.
    ensureActionlint();
    shellcheck = ensureShellcheck();
  }, 900_000);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('when actionlint checks every workflow, with shellcheck on each run script, then it reports no problem', () => {
    const files: string[] = workflowFiles();
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['ci.yml', 'cd.yml']));
    const { ok, findings, report } = runActionlint(files);
    expect(report).toBe('');
    expect(findings).toEqual([]);
    expect(ok).toBe(true);
  });

  it('when a workflow has an undefined property, an unknown needed job and an unquoted variable, then actionlint reports each', () => {
    const broken = path.join(tmp, 'broken.yml');
    fs.writeFileSync(
      broken,
      [
        'name: broken',
        'on: push',
        'jobs:',
        '  build:',
        '    runs-on: ubuntu-24.04',
        '    needs: [no-such-job]',
        '    steps:',
        '      - run: echo "${{ github.no_such_property }}"',
        '      - run: cp $SOURCE /tmp/target',
        '',
      ].join('\n'),
    );
    const { ok, findings } = runActionlint([broken], { cwd: tmp });
    const kinds = findings.map((f: { kind: string }) => f.kind);
    expect(ok).toBe(false);
    expect(kinds).toContain('expression');
    expect(kinds).toContain('job-needs');
    if (shellcheck) {
      expect(findings.find((f: { kind: string }) => f.kind === 'shellcheck')?.message).toMatch(/SC2086/);
    }
  });
});

describe('workflow policy', () => {
  const names = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));

  it('when an action is used, then it is pinned to a full commit SHA with its version in a comment', () => {
    for (const name of names) expect(unpinnedUses(read(name)), name).toEqual([]);
    // The check itself tells a tag, a short SHA and a missing comment apart from a proper pin.
    const sha = '08c6903cd8c0fde910a37f88322edcfb5dd907a8';
    expect(
      unpinnedUses(
        [
          '      - uses: actions/checkout@v5',
          '      - uses: actions/checkout@08c6903',
          `      - uses: actions/checkout@${sha}`,
          `        uses: actions/checkout@${sha} # v5.0.0`,
          '      - uses: ./.github/actions/local',
        ].join('\n'),
      ),
    ).toEqual(['- uses: actions/checkout@v5', '- uses: actions/checkout@08c6903', `- uses: actions/checkout@${sha}`]);
  });

  it('when a workflow runs, then its token is read-only unless a job needs to push packages', () => {
    for (const name of names) {
      const wf = load(name);
      expect(wf.permissions, name).toEqual({ contents: 'read' });
      for (const [id, job] of Object.entries(wf.jobs)) {
        const writes = Object.entries(job.permissions ?? {}).filter(([, level]) => level === 'write');
        const allowed = name === 'cd.yml' && id === 'images' ? [['packages', 'write']] : [];
        expect(writes, `${name} ${id}`).toEqual(allowed);
      }
    }
  });

  it('when a newer commit arrives for the same ref, then the stale run is cancelled', () => {
    for (const name of names) {
      const { concurrency } = load(name);
      expect(concurrency?.['cancel-in-progress'], name).toBe(true);
      expect(concurrency?.group, name).toMatch(/github\.workflow.*github\.event\.pull_request\.number \|\| github\.ref/);
    }
  });

  it('when a job hangs, then its timeout ends it', () => {
    for (const name of names) {
      for (const [id, job] of Object.entries(load(name).jobs)) {
        expect(job['timeout-minutes'], `${name} ${id}`).toBeGreaterThan(0);
        expect(job['timeout-minutes'], `${name} ${id}`).toBeLessThanOrEqual(60);
      }
    }
  });

  it('when a workflow calls `npm run <script>`, then the root package.json defines it', () => {
    const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts);
    for (const name of names) {
      const called = [...allRuns(load(name)).matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
      for (const script of called) expect(scripts, `${name} calls npm run ${script}`).toContain(script);
    }
  });
});

describe('CI workflow', () => {
  const ci = load('ci.yml');
  const test = ci.jobs.test!;

  it('when code is pushed or a pull request opened, then CI runs on the Node.js of .node-version with an npm cache', () => {
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    for (const job of [...Object.values(ci.jobs), ...Object.values(load('cd.yml').jobs)]) {
      const setupNode = job.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
      if (setupNode) expect(setupNode.with).toMatchObject({ 'node-version-file': '.node-version', cache: 'npm' });
    }
  });

  it('when tests run, then they reach real MongoDB 7 (a replica set), Kafka 3.9 in KRaft mode and Redis 7 containers', () => {
    const services = test.services!;
    const startMongo = test.steps.find((s) => s.name?.startsWith('Start MongoDB 7'))?.run ?? '';
    expect(startMongo).toMatch(/docker run -d --name mongo -p 27017:27017 mongo:7 --replSet rs0/);
    expect(startMongo).toMatch(/rs\.initiate/);
    expect(services.redis?.image).toBe('redis:7');
    expect(services.kafka?.image).toMatch(/^apache\/kafka:3\.9\.\d+$/);
    expect(services.kafka?.env).toMatchObject({ KAFKA_PROCESS_ROLES: 'broker,controller', KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false' });
    expect(services.kafka?.env?.KAFKA_ADVERTISED_LISTENERS).toBe(`PLAINTEXT://${test.env?.KAFKA_BROKERS}`);
    expect(test.env).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      KAFKA_BROKERS: '127.0.0.1:9092',
      MONGODB_URI: 'mongodb://127.0.0.1:27017',
      TASKMESH_REQUIRE_ALL_TOOLS: '1',
    });
    expect(services.redis?.ports).toEqual(['6379:6379']);
    expect(services.kafka?.ports).toEqual(['9092:9092']);
  });

  it('when CI runs, then it typechecks, lints, lints the workflows, tests, synthesizes and checks drift', () => {
    const runs = allRuns(ci);
    for (const command of ['npm ci', 'npm run typecheck', 'npm run lint', 'npm run lint:workflows', 'npm test', 'npm run synth']) {
      expect(runs).toContain(command);
    }
    expect(runs).toMatch(/git diff --exit-code[^\n]*-- k8s/);
  });
});

describe('CD workflow', () => {
  const cd = load('cd.yml');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-cd-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const images = cd.jobs.images!;
  const e2e = cd.jobs.e2e!;
  const runs = e2e.steps.map((s) => s.run ?? '').join('\n');

  it('when main or a version tag is pushed, then the four images are built for amd64 and arm64 and pushed to GHCR', () => {
    expect(cd.on.push).toEqual({ branches: ['main'], tags: ['v*'] });
    const matrix = images.strategy?.matrix?.include ?? [];
    expect(matrix.map((m) => m.image).sort()).toEqual(['analytics', 'auth', 'gateway', 'task']);
    for (const m of matrix) {
      const workspace = m.image === 'gateway' ? 'gateway' : `services/${m.image}`;
      expect(m.workspace).toBe(workspace);
      expect(fs.existsSync(path.join(ROOT, workspace, 'package.json'))).toBe(true);
    }
    const build = images.steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    expect(build.with).toMatchObject({
      context: '.',
      file: 'Dockerfile',
      platforms: 'linux/amd64,linux/arm64',
      push: "${{ github.event_name == 'push' }}",
    });
    expect(String(build.with?.['build-args']).trim().split('\n')).toEqual(['WORKSPACE=${{ matrix.workspace }}', 'PORT=${{ matrix.port }}']);
    const meta = images.steps.find((s) => s.uses?.startsWith('docker/metadata-action@'))!;
    expect(meta.with?.images).toBe('ghcr.io/${{ github.repository_owner }}/taskmesh/${{ matrix.image }}');
    expect(allUses(cd)).toEqual(expect.arrayContaining([expect.stringMatching(/^docker\/setup-qemu-action@/)]));
  });

  it('when the end-to-end job runs, then kind uses the Kubernetes 1.34 node image pinned by digest and Skaffold the laptop profile', () => {
    expect(cd.env?.KIND_NODE_IMAGE).toMatch(/^kindest\/node:v1\.34\.\d+@sha256:[0-9a-f]{64}$/);
    const kind = e2e.steps.find((s) => s.uses?.startsWith('helm/kind-action@'))!;
    expect(kind.with).toMatchObject({ node_image: '${{ env.KIND_NODE_IMAGE }}', config: 'k8s/kind-cluster.yaml' });
    expect(runs).toMatch(/skaffold run --profile laptop/);
    expect(runs).toMatch(/sha256sum --check/);
    expect(runs).toMatch(/kubectl rollout status/);
  });

  it('when the end-to-end job deploys, then the files it names exist and agree with it: kind config, node image, Skaffold profile and images', () => {
    const kindConfig = parse(fs.readFileSync(path.join(ROOT, 'k8s', 'kind-cluster.yaml'), 'utf8')) as {
      name?: string;
      nodes: Array<{ image?: string }>;
    };
    for (const node of kindConfig.nodes) expect(node.image ?? cd.env?.KIND_NODE_IMAGE).toBe(cd.env?.KIND_NODE_IMAGE);
    expect(kindConfig.name ?? cd.env?.CLUSTER_NAME).toBe(cd.env?.CLUSTER_NAME);

    const skaffold = parse(fs.readFileSync(path.join(ROOT, 'skaffold.yaml'), 'utf8')) as {
      build: { artifacts: Array<{ image: string; docker?: { dockerfile?: string; buildArgs?: Record<string, string> } }> };
      profiles: Array<{ name: string }>;
    };
    expect(skaffold.profiles.map((p) => p.name)).toContain('laptop');
    const matrix = images.strategy?.matrix?.include ?? [];
    expect(
      skaffold.build.artifacts.map((a) => [a.image, a.docker?.dockerfile, a.docker?.buildArgs?.WORKSPACE, a.docker?.buildArgs?.PORT]).sort(),
    ).toEqual(matrix.map((m) => [`taskmesh/${m.image}`, 'Dockerfile', m.workspace, String(m.port)]).sort());
    expect(fs.existsSync(path.join(ROOT, 'Dockerfile'))).toBe(true);
  });

  it('when the system is up, then the job runs the smoke test, a load until an HPA scales up, and a task restart under load', () => {
    const order = ['npm run smoke', 'npm run load', 'npm run rollout-check'].map((c) => runs.indexOf(c));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(runs).toMatch(/--until "kubectl get hpa --namespace \$APP_NS -o json \| jq -e --slurpfile before \$before \\"\\\$HPA_SCALED\\"/);
    expect(runs).toMatch(/--command "kubectl rollout restart deployment\/task[^"]*&& kubectl rollout status deployment\/task/);
  });

  it('when the load step asks whether an HPA scaled, then only one above its minimum and above its count before the load counts', () => {
    const jq = ensureDebianTool('jq', 'jq', 'the HPA condition is not exercised');
    if (!jq) return;
    const step = e2e.steps.find((s) => s.name === 'Load until an HPA scales up')!;
    const snapshot = /jq -c '([^']+)'/.exec(step.run ?? '')![1]!;
    const scaled = (step.env as Record<string, string>).HPA_SCALED!;
    const hpas = (replicas: Record<string, number | undefined>) => ({
      items: Object.entries(replicas).map(([name, current]) => ({
        metadata: { name },
        spec: name === 'task' ? {} : { minReplicas: 1 },
        status: current === undefined ? {} : { currentReplicas: current },
      })),
    });
    const jqRun = (args: string[], input: unknown) => spawnSync(jq, args, { input: JSON.stringify(input), encoding: 'utf8' });

    // gateway already runs 2 (start-up CPU), task runs 1, analytics has no metrics yet
    const start = hpas({ gateway: 2, task: 1, analytics: undefined });
    const before = path.join(tmp, 'hpa-before.json');
    fs.writeFileSync(before, jqRun(['-c', snapshot], start).stdout);
    expect(JSON.parse(fs.readFileSync(before, 'utf8'))).toEqual({ gateway: 2, task: 1, analytics: 0 });
    const check = (state: unknown) => jqRun(['-e', '--slurpfile', 'before', before, scaled], state).status;

    expect(check(start)).toBe(1);
    expect(check(hpas({ gateway: 2, task: 1, analytics: 1 }))).toBe(1);
    expect(check(hpas({ gateway: 3, task: 1, analytics: 1 }))).toBe(0);
    expect(check(hpas({ gateway: 2, task: 2, analytics: 1 }))).toBe(0);
  });

  it('when the end-to-end job fails, then it uploads the pods logs and the cluster events', () => {
    const collect = e2e.steps.find((s) => s.name === 'Collect diagnostics')!;
    const upload = e2e.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))!;
    expect(collect.if).toBe('failure()');
    expect(upload.if).toBe('failure()');
    expect(collect.run).toMatch(/kubectl get events --all-namespaces/);
    expect(collect.run).toMatch(/kubectl logs "\$pod"/);
    expect(upload.with?.path).toBe('e2e-diagnostics');
  });
});
