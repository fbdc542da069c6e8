import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { grafanaDashboards, prometheusAlertRules, promtoolRuleTests } from './index.js';

/** File name → content of everything committed under `generated/`. */
export function generatedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, dashboard] of Object.entries(grafanaDashboards())) files[name] = `${JSON.stringify(dashboard, null, 2)}\n`;
  // Prometheus reads rule files as YAML, of which JSON is a subset.
  files['alert-rules.json'] = `${JSON.stringify(prometheusAlertRules(), null, 2)}\n`;
  // promtool test rules generated/alert-rules.test.json
  files['alert-rules.test.json'] = `${JSON.stringify(promtoolRuleTests('alert-rules.json'), null, 2)}\n`;
  return files;
}

/** The folder the files are committed in: `packages/dashboards/generated`. */
export const GENERATED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'generated');

export function writeGenerated(dir = GENERATED_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const files = generatedFiles();
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return Object.keys(files);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const name of writeGenerated(process.argv[2])) console.log(`wrote ${name}`);
}
