import fs from 'node:fs';
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
 * Writes `k8s/laptop/`, `k8s/ha/` and `k8s/tools/` from scratch (stale files of removed charts
 * would otherwise survive). Deterministic: names are explicit and nothing depends on time.
 */
export function synth(outdir: string = DEFAULT_OUTDIR): string[] {
  const written: string[] = [];
  const observability = observabilityProps();
  for (const name of Object.keys(SIZES) as SizeName[]) {
    const dir = path.join(outdir, name);
    fs.rmSync(dir, { recursive: true, force: true });
    const app = new App({ outdir: dir, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
    buildPlatform(app, { size: SIZES[name], ...observability });
    app.synth();
    written.push(dir);
  }
  const toolsDir = path.join(outdir, 'tools');
  fs.rmSync(toolsDir, { recursive: true, force: true });
  const tools = new App({ outdir: toolsDir, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  buildTools(tools);
  tools.synth();
  written.push(toolsDir);
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  for (const dir of synth(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUTDIR)) {
    process.stdout.write(`synthesized ${path.relative(process.cwd(), dir) || dir}\n`);
  }
  const chart = writeChart(observabilityProps(), process.argv[3] ? path.resolve(process.argv[3]) : DEFAULT_CHART_DIR);
  process.stdout.write(`generated ${path.relative(process.cwd(), chart) || chart}\n`);
}
