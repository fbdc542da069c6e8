import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NODE_PORTS, PORTS } from '../src/platform.js';
import { K8S, REPO } from './manifests.js';

const skaffold = parse(fs.readFileSync(path.join(REPO, 'skaffold.yaml'), 'utf8'));
const rootManifest = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const IMAGES = {
  'taskmesh/gateway': { workspace: 'gateway', port: PORTS.gateway },
  'taskmesh/auth': { workspace: 'services/auth', port: PORTS.auth },
  'taskmesh/task': { workspace: 'services/task', port: PORTS.task },
  'taskmesh/analytics': { workspace: 'services/analytics', port: PORTS.analytics },
} as const;

/** Expands a rawYaml glob of the form `dir/*.yaml`, the only form skaffold.yaml uses. */
function expand(pattern: string): string[] {
  const dir = path.join(REPO, path.dirname(pattern));
  const suffix = path.basename(pattern).replace(/^\*/, '');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(suffix)) : [];
}

describe('skaffold.yaml', () => {
  it('when it builds, then it builds the four images locally from the one Dockerfile, each with its workspace and port, and pushes nothing', () => {
    expect(skaffold.build.local.push).toBe(false);
    const artifacts = Object.fromEntries(skaffold.build.artifacts.map((a: { image: string }) => [a.image, a]));
    expect(Object.keys(artifacts).sort()).toEqual(Object.keys(IMAGES).sort());
    expect(fs.existsSync(path.join(REPO, 'Dockerfile'))).toBe(true);
    for (const [image, { workspace, port }] of Object.entries(IMAGES)) {
      expect(artifacts[image].context, image).toBe('.');
      expect(artifacts[image].docker.dockerfile, image).toBe('Dockerfile');
      expect(artifacts[image].docker.buildArgs, image).toEqual({ WORKSPACE: workspace, PORT: String(port) });
      expect(fs.existsSync(path.join(REPO, workspace, 'src', 'server.ts')), image).toBe(true);
    }
  });

  it('when it renders, then it synthesizes first and deploys the laptop manifests, or the ha ones with that profile', () => {
    expect(skaffold.manifests.hooks.before[0].host.command).toEqual(['npm', 'run', 'synth']);
    expect(rootManifest.scripts.synth).toContain('infra');
    expect(skaffold.manifests.rawYaml).toEqual(['k8s/laptop/*.yaml']);
    const profiles = Object.fromEntries(skaffold.profiles.map((p: { name: string }) => [p.name, p]));
    expect(Object.keys(profiles).sort()).toEqual(['ha', 'laptop']);
    for (const size of ['laptop', 'ha']) {
      const [patch] = profiles[size].patches;
      expect(patch).toEqual({ op: 'replace', path: '/manifests/rawYaml/0', value: `k8s/${size}/*.yaml` });
      expect(expand(patch.value).length, size).toBeGreaterThan(3);
    }
    expect(skaffold.deploy.kubectl).toBeDefined();
  });

  it('when a session deploys, then its run-id label lands on the workloads and never on their pod templates (no restart per session)', () => {
    const allow = Object.fromEntries(skaffold.resourceSelector.allow.map((f: { groupKind: string }) => [f.groupKind, f]));
    for (const kind of ['Deployment.apps', 'StatefulSet.apps']) {
      // Skaffold matches a label path by its parent: only `.metadata`, not `.spec.template.metadata`.
      expect(allow[kind], kind).toEqual({ groupKind: kind, image: ['.*'], labels: ['.metadata.labels'], podSpec: ['.*'] });
    }
    expect(skaffold.resourceSelector.deny).toBeUndefined();
  });

  it('when it runs, then it forwards the gateway and Grafana', () => {
    const forwards = skaffold.portForward.map((f: { resourceName: string; port: number; namespace: string }) => [
      f.resourceName,
      f.port,
      f.namespace,
    ]);
    expect(forwards).toEqual([
      ['gateway', PORTS.gateway, 'taskmesh'],
      ['grafana', 3000, 'taskmesh'],
    ]);
  });
});

describe('the Dockerfile', () => {
  const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
  const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gm)].map((m) => m[2]);
  const runtime = text.slice(text.lastIndexOf('\nFROM '));

  it('when built, then it compiles in one stage, installs production dependencies of this workspace only in another, and runs neither tool in the last', () => {
    expect(stages).toEqual(['manifests', 'build', 'deps', 'runtime']);
    expect(text).toContain('npx tsc -b "$WORKSPACE"');
    expect(text).toContain('npm ci --omit=dev --workspace "$WORKSPACE"');
    // each stage that uses the build args declares them, or they are empty there
    for (const stage of text.split(/\nFROM /).slice(1)) {
      if (stage.includes('$WORKSPACE') || stage.includes('${WORKSPACE}')) expect(stage).toMatch(/^ARG WORKSPACE$/m);
      if (stage.includes('${PORT}')) expect(stage).toMatch(/^ARG PORT$/m);
    }
    // The images run the release CI tests on.
    const pinned = fs.readFileSync(path.join(REPO, '.node-version'), 'utf8').trim();
    expect(text).toContain(`ARG NODE_IMAGE=node:${pinned}-bookworm-slim`);
    expect(runtime).not.toMatch(/npm (ci|install)|tsc/);
    // The full install is one layer for all four images: no build arg is in scope above it.
    const build = text.slice(text.indexOf('AS build'), text.indexOf('AS deps'));
    expect(build.indexOf('npm ci --no-audit')).toBeGreaterThan(0);
    expect(build.indexOf('npm ci --no-audit')).toBeLessThan(build.indexOf('ARG WORKSPACE'));
    // npm nests a dependency under a workspace package when the root holds another version of it
    // (service-kit's ajv): without those folders the service fails at its first import.
    expect(runtime).toMatch(/^COPY --from=deps \/app\/packages\/ \.\/packages\/$/m);
    expect(runtime.indexOf('COPY --from=deps /app/packages/')).toBeLessThan(runtime.indexOf('COPY --from=build /out/'));
  });

  it('when it runs, then it runs `node dist/server.js` with the tracing preload from the workspace as uid 10001', () => {
    expect(runtime).toContain('USER 10001:10001');
    expect(runtime).toContain('WORKDIR /app/${WORKSPACE}');
    expect(runtime).toContain('EXPOSE ${PORT}');
    expect(runtime).toContain(
      'CMD ["sh", "-c", "set -a && . /app/node-runtime.env && exec node --import @taskmesh/telemetry/register dist/server.js"]',
    );
    expect(runtime).toContain('ENV NODE_ENV=production');
  });

  it('when it runs, then node-runtime.env is in the image and sets the young generation that npm start and the benchmark use too', () => {
    expect(runtime).toMatch(/^COPY node-runtime\.env \.\/$/m);
    // Copied while the working directory is /app, where the CMD sources it.
    expect(runtime.indexOf('COPY node-runtime.env')).toBeLessThan(runtime.indexOf('WORKDIR /app/${WORKSPACE}'));
    const env = fs.readFileSync(path.join(REPO, 'node-runtime.env'), 'utf8');
    expect(env).toMatch(/^NODE_OPTIONS="[^"]*--max-semi-space-size=\d+[^"]*"$/m);
    for (const script of ['scripts/start.mjs', 'scripts/bench-system.mjs']) {
      expect(fs.readFileSync(path.join(REPO, script), 'utf8'), script).toContain('NODE_RUNTIME_ENV');
    }
  });
});

describe.each(Object.entries(IMAGES))('the %s workspace, as the Dockerfile builds it', (image, { workspace }) => {
  it('when built with --omit=dev and tsc -b, then it carries the preload and its server entry point', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO, workspace, 'package.json'), 'utf8'));
    // A production dependency, so that `npm ci --omit=dev --workspace` installs the preload's own
    // dependencies, and a project reference, so that `tsc -b <workspace>` compiles it.
    expect(manifest.dependencies['@taskmesh/telemetry'], `${workspace} depends on the preload`).toBe('*');
    const tsconfig = JSON.parse(fs.readFileSync(path.join(REPO, workspace, 'tsconfig.json'), 'utf8'));
    expect(tsconfig.references.map((r: { path: string }) => path.resolve(REPO, workspace, r.path))).toContain(
      path.join(REPO, 'packages', 'telemetry'),
    );
    expect(manifest.main ?? manifest.scripts?.start).toMatch(/dist\/server\.js/);
    expect(fs.existsSync(path.join(REPO, workspace, 'src', 'server.ts')), `${image} has src/server.ts`).toBe(true);
  });

  it('when the build context is filtered, then every workspace manifest npm ci needs is still in it', () => {
    const ignore = fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8');
    expect(ignore).toMatch(/^\*\*\/node_modules$/m);
    expect(ignore).toMatch(/^\*\*\/dist$/m);
    const excluded = ignore.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('!') && !l.includes('*'));
    for (const ws of rootManifest.workspaces as string[]) {
      expect(fs.existsSync(path.join(REPO, ws, 'package.json')), ws).toBe(true);
      expect(
        excluded.some((e) => ws === e || ws.startsWith(`${e}/`)),
        `${ws} is excluded from the context`,
      ).toBe(false);
    }
    expect(ignore).toContain('!infra/package.json');
  });
});

describe('the kind cluster', () => {
  const cluster = parse(fs.readFileSync(path.join(K8S, 'kind-cluster.yaml'), 'utf8'));

  it('when created, then its node runs a supported Kubernetes (1.34) from a pinned image and maps the gateway and Grafana node ports to loopback only', () => {
    expect(cluster.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    const [node] = cluster.nodes;
    expect(node.image).toMatch(/^kindest\/node:v1\.34\.\d+@sha256:[0-9a-f]{64}$/);
    for (const m of node.extraPortMappings) expect(m.listenAddress, String(m.hostPort)).toBe('127.0.0.1');
    const ports = node.extraPortMappings.map((m: { containerPort: number; hostPort: number }) => [m.containerPort, m.hostPort]);
    expect(ports).toEqual([
      [NODE_PORTS.gateway, NODE_PORTS.gateway],
      [NODE_PORTS.grafana, NODE_PORTS.grafana],
    ]);
  });
});
