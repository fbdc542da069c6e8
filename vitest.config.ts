import path from 'node:path';
import { defineConfig } from 'vitest/config';

const here = import.meta.dirname;

/** Tests import the shared packages from source, so a change needs no build before `vitest`. */
const packages = ['events', 'service-kit', 'kafka', 'mongo', 'outbox', 'redis', 'access-token', 'telemetry', 'dashboards'];
const alias = packages.flatMap((name) => [
  { find: new RegExp(`^@taskmesh/${name}$`), replacement: path.join(here, 'packages', name, 'src', 'index.ts') },
  { find: new RegExp(`^@taskmesh/${name}/(.*)$`), replacement: path.join(here, 'packages', name, 'src', '$1.ts') },
]);

const project = (name: string, root: string, extra: { testTimeout?: number; hookTimeout?: number; globalSetup?: string[] } = {}) => ({
  resolve: { alias },
  test: {
    name,
    root: path.join(here, root),
    include: ['test/**/*.test.ts'],
    globalSetup: [path.join(here, 'test', 'global-setup.ts'), ...(extra.globalSetup ?? [])],
    testTimeout: extra.testTimeout ?? 30_000,
    hookTimeout: extra.hookTimeout ?? 90_000,
  },
});

export default defineConfig({
  test: {
    // Each project is one workspace; infrastructure is brought up once for all of them.
    projects: [
      project('repo', '.'),
      ...packages.map((p) => project(p, `packages/${p}`)),
      project('auth', 'services/auth'),
      project('task', 'services/task'),
      project('analytics', 'services/analytics', { testTimeout: 120_000 }),
      project('gateway', 'gateway', { testTimeout: 60_000 }),
      project('infra', 'infra', { testTimeout: 120_000 }),
      // The manifests on a local control plane; a cold build of it takes tens of minutes, started
      // by its global setup so that it runs while the other projects test.
      project('cluster', 'tools/kube', {
        testTimeout: 600_000,
        hookTimeout: 90 * 60_000,
        globalSetup: [path.join(here, 'tools', 'kube', 'test', 'global-setup.ts')],
      }),
    ],
    reporters: ['default'],
  },
});
