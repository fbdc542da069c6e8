import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, YamlOutputType } from 'cdk8s';
import { grafanaDashboards, prometheusAlertRules } from '@taskmesh/dashboards';
import { DEFAULT_CHART_DIR, writeChart } from './helm-chart.js';
import { buildPlatform, buildTools, type PlatformProps } from './platform.js';
import { SIZES, type SizeName } from './sizes.js';
import { Tracing } from './tracing.js';

/** Where `npm run synth` writes: `<repo>/k8s`. */
export const DEFAULT_OUTDIR = path.resolve(import.meta.dirname, '..', '..', 'k8s');

/** What both sizes get besides their size: dashboards, alert rules, tracing. Shared with the Helm chart. */
export function observabilityProps(): Omit<PlatformProps, 'size'> {
  const tracing = new Tracing();
  return {
    dashboards: grafanaDashboards(),
    alertRules: prometheusAlertRules(),
    monitoringExtensions: [tracing.extension()],
    serviceEnv: tracing.serviceEnv(),
    grafanaDatasources: tracing.grafanaDatasources(),
  };
}

/**
 * Makes `dir` hold exactly the files of `staged`, writing only those whose content differs and
 * removing those `staged` no longer has. Unchanged files keep their modification time, which is
 * what `skaffold dev` watches: rewriting every file on each synth made each redeploy trigger the next.
 * Returns the paths (relative to `dir`) that were written or removed.
 */
export function syncTree(staged: string, dir: string): string[] {
  const touched: string[] = [];
  const walk = (rel: string): string[] =>
    fs.readdirSync(path.join(staged, rel), { withFileTypes: true }).flatMap((e) => {
      const child = path.join(rel, e.name);
      return e.isDirectory() ? walk(child) : [child];
    });
  const wanted = new Set(walk(''));
  for (const rel of wanted) {
    const next = fs.readFileSync(path.join(staged, rel));
    const target = path.join(dir, rel);
    let current: Buffer | undefined;
    try {
      current = fs.readFileSync(target);
    } catch {
      current = undefined;
    }
    if (current?.equals(next)) continue;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, next);
    touched.push(rel);
  }
  const prune = (rel: string): void => {
    const abs = path.join(dir, rel);
    if (!fs.existsSync(abs)) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const child = path.join(rel, e.name);
      if (e.isDirectory()) {
        prune(child);
        if (fs.readdirSync(path.join(dir, child)).length === 0) fs.rmdirSync(path.join(dir, child));
      } else if (!wanted.has(child)) {
        fs.rmSync(path.join(dir, child));
        touched.push(child);
      }
    }
  };
  prune('');
  return touched;
}

/**
 * Writes `k8s/laptop/`, `k8s/ha/` and `k8s/tools/`: each is synthesized into a scratch folder and
 * then synced, so that stale files of removed charts go and unchanged files are left untouched.
 * Deterministic: names are explicit and nothing depends on time.
 */
export function synth(outdir: string = DEFAULT_OUTDIR): string[] {
  const written: string[] = [];
  const observability = observabilityProps();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-synth-'));
  try {
    const synthOne = (name: string, build: (app: App) => void): void => {
      const staged = path.join(scratch, name);
      const app = new App({ outdir: staged, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
      build(app);
      app.synth();
      const dir = path.join(outdir, name);
      syncTree(staged, dir);
      written.push(dir);
    };
    for (const name of Object.keys(SIZES) as SizeName[]) {
      synthOne(name, (app) => buildPlatform(app, { size: SIZES[name], ...observability }));
    }
    synthOne('tools', (app) => buildTools(app));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  for (const dir of synth(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUTDIR)) {
    process.stdout.write(`synthesized ${path.relative(process.cwd(), dir) || dir}\n`);
  }
  const chart = writeChart(observabilityProps(), process.argv[3] ? path.resolve(process.argv[3]) : DEFAULT_CHART_DIR);
  process.stdout.write(`generated ${path.relative(process.cwd(), chart) || chart}\n`);
}
