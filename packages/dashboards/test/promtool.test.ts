import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  PROMETHEUS_VERSION as PINNED,
  alertCases,
  alertGroups,
  prometheusAlertRules,
  prometheusConfig,
  prometheusRuleFiles,
  promtoolRuleTests,
  type CaseKind,
} from '../src/index.js';
import { counter, gauge } from '../src/alert-tests.js';
import { PROMETHEUS_VERSION, ensurePrometheusInstalled, localPrometheusFiles, promtool } from '../../../scripts/prometheus-lib.mjs';

const rules = alertGroups().flatMap((g) => g.rules);
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

let dir: string;

beforeAll(async () => {
  // A fresh machine builds Prometheus here, once (a few minutes); later runs find it in the cache.
  await ensurePrometheusInstalled();
  dir = mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  for (const [name, content] of Object.entries(prometheusRuleFiles())) writeFileSync(path.join(dir, name), json(content));
  writeFileSync(path.join(dir, 'alerts.test.yaml'), json(promtoolRuleTests('alerts.yaml')));
}, 30 * 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the alert rules on promtool', () => {
  it('when the suite builds Prometheus, then it is the release the cluster runs', async () => {
    expect(PROMETHEUS_VERSION).toBe(PINNED);
    const { output } = await promtool(['--version']);
    expect(output).toContain(`promtool, version ${PINNED}`);
  });

  it('when the rule file is checked, then promtool finds every alert and nothing to complain about', async () => {
    const { status, output } = await promtool(['check', 'rules', 'alerts.yaml'], { cwd: dir });
    expect(output, output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status).toBe(0);
  });

  it('when the unit tests run, then every case passes: alerts fire with their labels after their `for`, and stay quiet otherwise', async () => {
    const { status, output } = await promtool(['test', 'rules', 'alerts.test.yaml'], { cwd: dir });
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  it('when the cases are listed, then every alert has one that fires it and ones under the threshold, a burst shorter than `for` and no data', () => {
    const problems: string[] = [];
    for (const rule of rules) {
      const kinds = new Set(
        alertCases()
          .filter((c) => c.alert === rule.alert)
          .map((c) => c.kind),
      );
      const needed: CaseKind[] = ['fires', 'under-threshold', 'no-data', ...(rule.for === '0m' ? [] : (['brief-spike'] as const))];
      for (const kind of needed) if (!kinds.has(kind)) problems.push(`${rule.alert}: no ${kind} case`);
    }
    expect(problems).toEqual([]);
    for (const c of alertCases().filter((x) => x.kind === 'fires')) {
      // Quiet at first (pending, for alerts with a `for`), then firing: the duration is tested.
      expect(c.expect[0]?.firing, c.name).toEqual([]);
      expect(
        c.expect.some((e) => e.firing.length > 0),
        c.name,
      ).toBe(true);
    }
    for (const c of alertCases().filter((x) => x.kind !== 'fires'))
      expect(
        c.expect.every((e) => e.firing.length === 0),
        c.name,
      ).toBe(true);
  });

  // The tests are worth something only if a wrong rule fails them.
  it.each([
    ['rate windows as long as `for` (a burst keeps the condition true for the whole window)', /\[1m\]/g, '[5m]', ['brief-spike']],
    ['a lower latency threshold', '> 0.5', '> 0.45', ['under-threshold']],
    ['a shorter `for`', /"for": "5m"/g, '"for": "4m"', ['fires']],
    ['probes counted', '{route!~"/health/.*|unmatched"}', '{route!~"unmatched"}', ['fires']],
    ['an open breaker read as anything but closed', '== 2', '>= 1', ['under-threshold']],
    [
      'dead letters counted in total instead of over 15 minutes',
      'increase(analytics_dead_letters_total[15m])',
      'analytics_dead_letters_total',
      ['fires', 'under-threshold'],
    ],
    ['an outbox stuck whenever it is not empty', ' and sum(increase(task_outbox_published_total[10m])) == 0', '', ['under-threshold']],
  ] as const)('when the rules have %s, then promtool fails the cases that show it', async (_, from, to, failing) => {
    const original = json(prometheusAlertRules());
    // Strings stand in the JSON with their quotes escaped.
    const escaped = (s: string) => JSON.stringify(s).slice(1, -1);
    const all = typeof from === 'string' ? original.split(escaped(from)).join(escaped(to)) : original.replace(from, to);
    expect(all).not.toBe(original);
    const mutant = mkdtempSync(path.join(os.tmpdir(), 'promtool-mutant-'));
    try {
      writeFileSync(path.join(mutant, 'alerts.yaml'), all);
      writeFileSync(path.join(mutant, 'alerts.test.yaml'), json(promtoolRuleTests('alerts.yaml')));
      const { status, output } = await promtool(['test', 'rules', 'alerts.test.yaml'], { cwd: mutant });
      expect(status, output).not.toBe(0);
      const failed = new Set([...output.matchAll(/Taskmesh\w+ \[([a-z-]+)\]/g)].map((m) => m[1]));
      for (const kind of failing) expect(failed, output.slice(0, 2000)).toContain(kind);
    } finally {
      rmSync(mutant, { recursive: true, force: true });
    }
  });

  it('when the series notation is written, then counters continue across segments and gauges hold their values', () => {
    expect(counter([10, '45s'], [0, '30s'])).toBe('0 10+10x2 30+0x1');
    expect(gauge([2, '45s'], [1, '15s'])).toBe('2x2 1');
  });
});

describe('the Prometheus configuration on promtool', () => {
  it.each([
    [
      'the cluster (pod discovery)',
      prometheusConfig({ discovery: { kubernetesNamespace: 'taskmesh' }, ruleFiles: ['alerts.yaml'], selfAddress: 'localhost:9090' }),
    ],
    ['the local run (fixed addresses)', undefined],
  ])('when the configuration of %s is checked, then promtool accepts it and loads the rules', async (_, given) => {
    const config =
      given ??
      (
        await localPrometheusFiles({
          port: 9090,
          services: [
            { name: 'gateway', port: 8080 },
            { name: 'auth', port: 3001 },
          ],
        })
      ).config;
    const file = path.join(dir, 'prometheus.yml');
    // The rule files are named relative to the configuration; the local run keeps them in rules/.
    writeFileSync(file, json({ ...(config as object), rule_files: ['alerts.yaml'] }));
    const { status, output } = await promtool(['check', 'config', file]);
    expect(output).toContain(`SUCCESS: ${file} is valid prometheus config file syntax`);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status, output).toBe(0);
  });

  it.each(['laptop', 'ha'])(
    'when the synthesized %s stack is checked, then promtool accepts its Prometheus ConfigMaps as mounted',
    async (size) => {
      const manifests = readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'k8s', size, '40-monitoring.yaml'), 'utf8');
      const configMaps = new Map<string, Record<string, string>>();
      for (const doc of parseAllDocuments(manifests)) {
        const o = doc.toJS() as { kind?: string; metadata?: { name: string }; data?: Record<string, string> } | null;
        if (o?.kind === 'ConfigMap' && o.metadata && o.data) configMaps.set(o.metadata.name, o.data);
      }
      const mounted = mkdtempSync(path.join(os.tmpdir(), `promtool-${size}-`));
      try {
        // /etc/prometheus/rules/ in the pod: the rules ConfigMap's files, next to the configuration here.
        const rulesDir = path.join(mounted, 'rules');
        mkdirSync(rulesDir);
        for (const [name, content] of Object.entries(configMaps.get('prometheus-rules') ?? {}))
          writeFileSync(path.join(rulesDir, name), content);
        const config = JSON.parse(configMaps.get('prometheus-config')?.['prometheus.yml'] ?? 'null') as { rule_files: string[] };
        expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.yaml']);
        const file = path.join(mounted, 'prometheus.yml');
        writeFileSync(file, json({ ...config, rule_files: ['rules/*.yaml'] }));
        const { status, output } = await promtool(['check', 'config', file]);
        expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
        expect(status, output).toBe(0);
      } finally {
        rmSync(mounted, { recursive: true, force: true });
      }
    },
  );

  it('when a configuration is broken, then promtool says so', async () => {
    const file = path.join(dir, 'broken.yml');
    writeFileSync(file, json({ scrape_configs: [{ job_name: 'x', kubernetes_sd_configs: [{ role: 'no-such-role' }] }] }));
    const { status, output } = await promtool(['check', 'config', file]);
    expect(status).not.toBe(0);
    expect(output).toMatch(/no-such-role/);
  });
});

describe('runbooks', () => {
  const doc = readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'docs', 'observability.md'), 'utf8');
  /** GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped. */
  const anchor = (heading: string) =>
    heading
      .trim()
      .toLowerCase()
      .replace(/[^\w\- ]/g, '')
      .replace(/ /g, '-');
  const sections = new Map<string, string>();
  const parts = doc.split(/^(#{1,6} .*)$/m);
  for (let i = 1; i < parts.length; i += 2) sections.set(anchor(parts[i]!.replace(/^#+ /, '')), parts[i + 1] ?? '');

  it.each(rules.map((r) => [r.alert, r] as const))(
    'when %s fires, then its runbook link leads to a section of docs/observability.md that says what to do',
    (_, rule) => {
      expect(rule.annotations.summary).not.toBe('');
      expect(rule.annotations.description).not.toBe('');
      const [file, hash] = rule.annotations.runbook_url.split('#');
      expect(file).toBe('docs/observability.md');
      const body = sections.get(hash!);
      expect(body, `no heading with anchor #${hash}`).toBeDefined();
      // What it means, what to look at and what to do.
      expect(body!.trim().split(/\s+/).length, `section #${hash}`).toBeGreaterThan(60);
      expect(body).toMatch(/^\d+\. /m);
    },
  );
});
