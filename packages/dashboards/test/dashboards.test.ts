import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createServiceApp } from '@taskmesh/service-kit';
import { EventProducer, createKafka, ensureTopics, startConsumer } from '@taskmesh/kafka';
import { mongoPlugin } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generatedFiles, GENERATED_DIR } from '../src/generate.js';
import {
  METRICS,
  PROMETHEUS_UID,
  TARGET_LABELS,
  TRACES_UID,
  grafanaDashboards,
  grafanaDataSources,
  otelCollectorConfig,
  prometheusAlertRules,
  type MetricName,
} from '../src/index.js';
import { startPlatformStack, type PlatformStack } from '../../../test/trace-stack.js';
import { parseExposition, type Family } from './exposition.js';
import { analyse } from './promql.js';

interface Query {
  readonly where: string;
  readonly expr: string;
  /** Label names a legend or an annotation template refers to. */
  readonly templateLabels: string[];
}

interface PanelJson {
  title?: string;
  type: string;
  id?: number;
  datasource?: { uid?: string };
  targets?: { expr: string; legendFormat?: string; datasource?: { uid?: string } }[];
  panels?: PanelJson[];
}
interface DashboardJson {
  uid: string;
  title: string;
  panels: PanelJson[];
  templating: { list: { name: string; query: { query: string } }[] };
}

const dashboards = grafanaDashboards() as Record<string, DashboardJson>;
const panelsOf = (d: DashboardJson) => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

function allQueries(): Query[] {
  const out: Query[] = [];
  for (const [file, d] of Object.entries(dashboards)) {
    for (const panel of panelsOf(d)) {
      for (const t of panel.targets ?? []) {
        out.push({
          where: `${file} › ${panel.title}`,
          expr: t.expr,
          templateLabels: [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!),
        });
      }
    }
  }
  for (const group of prometheusAlertRules().groups) {
    for (const rule of group.rules) {
      const templates = Object.values(rule.annotations).join(' ');
      out.push({
        where: `alert ${rule.alert}`,
        expr: rule.expr,
        templateLabels: [...templates.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!),
      });
    }
  }
  return out;
}

/** The family a sample name belongs to in the catalogue, and the labels that name carries. */
function catalogued(sampleName: string): { family: MetricName; labels: Set<string> } | undefined {
  if (sampleName in METRICS && METRICS[sampleName as MetricName].type !== 'histogram') {
    return { family: sampleName as MetricName, labels: new Set([...METRICS[sampleName as MetricName].labels, ...TARGET_LABELS]) };
  }
  const m = /^(.*)_(bucket|sum|count)$/.exec(sampleName);
  if (m && m[1]! in METRICS && METRICS[m[1] as MetricName].type === 'histogram') {
    const spec = METRICS[m[1] as MetricName];
    return { family: m[1] as MetricName, labels: new Set([...spec.labels, ...TARGET_LABELS, ...(m[2] === 'bucket' ? ['le'] : [])]) };
  }
  return undefined;
}
const labelsOf = (sample: string) => catalogued(sample)?.labels ?? new Set<string>();

describe('dashboards and alerts as code', () => {
  const topic = `test.dashboards.${randomUUID().slice(0, 8)}`;
  const groupId = `dashboards-${randomUUID().slice(0, 8)}`;
  const dbName = `dashboards_${randomUUID().slice(0, 8)}`;
  let app: Awaited<ReturnType<typeof createServiceApp>>;
  let scraped: Map<string, Family>;

  // One process built from the shared packages as the services build theirs: HTTP, MongoDB and
  // a Kafka producer and consumer, all counting into the app's registry; then /metrics is read.
  beforeAll(async () => {
    app = await createServiceApp({ service: 'dashboards-test', logLevel: false });
    await app.register(mongoPlugin, { uri: inject('infra').mongodbUri, dbName });
    app.get('/things/:id', async (request) =>
      app.mongo.db.collection('things').findOne({ _id: (request.params as { id: string }).id as never }),
    );
    app.get('/boom', async () => {
      throw new Error('failure for the 5xx series');
    });
    await app.ready();
    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'dashboards-test', metrics: app.metrics });
    await ensureTopics(kafka, [{ topic, numPartitions: 2 }]);
    const producer = new EventProducer(kafka);
    let consumed = 0;
    const consumer = await startConsumer(kafka, { groupId, topics: [topic], handle: async () => void consumed++ });
    try {
      await producer.send(
        topic,
        ['a', 'b', 'c'].map((key) => ({ key, value: { key } })),
      );
      const deadline = Date.now() + 30_000;
      while (consumed < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(consumed).toBe(3);
      for (const url of ['/things/x', '/things/y', '/nowhere', '/boom', '/health/live']) await app.inject({ method: 'GET', url });
      // Garbage enough for a few collections, so that the GC histogram has samples (a run this short
      // may see none: Node 24's young generation holds all of the above); they are reported a tick later.
      let allocated = 0;
      for (let i = 0; i < 200; i++) allocated += new Array<number>(100_000).fill(i).length;
      expect(allocated).toBe(20_000_000);
      await new Promise((r) => setTimeout(r, 50));
      // While the consumer runs: a stopped member withdraws its lag series.
      scraped = parseExposition((await app.inject({ method: 'GET', url: '/metrics' })).body);
    } finally {
      await consumer.stop().catch(() => {});
      await producer.disconnect();
    }
  });

  afterAll(async () => {
    await app?.mongo.db.dropDatabase();
    await app?.close();
  });

  // The gateway, task and analytics apps themselves, driven so that each of their own series has
  // samples: a task created through the gateway (upstream latency, the outbox relay, analytics
  // applying it), a message analytics must dead-letter, and one request over the rate limit.
  let stack: PlatformStack;
  const byService = new Map<string, Map<string, Family>>();
  const pages = new Map<string, string>();
  beforeAll(async () => {
    stack = await startPlatformStack(inject('infra'), { gatewayEnv: { RATE_LIMIT_API_PER_MINUTE: '2' } });
    const userId = stack.newUserId();
    const authorization = `Bearer ${await stack.issuer.token(userId)}`;
    const created = await fetch(`${stack.gatewayUrl}/tasks`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'for the metrics' }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${stack.gatewayUrl}/tasks`, { headers: { authorization } })).status).toBe(200);
    expect((await fetch(`${stack.gatewayUrl}/tasks`, { headers: { authorization } })).status).toBe(429);

    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: 'dashboards-test-poison' });
    const producer = new EventProducer(kafka);
    try {
      await producer.send(stack.taskTopic, [{ key: userId, value: { not: 'an event' } }]);
    } finally {
      await producer.disconnect();
    }
    const scrape = async (service: FastifyInstance) => {
      const page = (await service.inject({ method: 'GET', url: '/metrics' })).body;
      pages.set(service === stack.analytics ? 'analytics' : service === stack.gateway ? 'gateway' : 'task', page);
      return parseExposition(page);
    };
    // Both messages handled: the task's event applied and the other one dead-lettered.
    const settled = (m: Map<string, Family>) =>
      /^analytics_events_processed_total\{[^}]*type="TaskCreated"[^}]*outcome="applied"/m.test(pages.get('analytics')!) &&
      (m.get('analytics_dead_letters_total')?.samples ?? 0) > 0;
    const deadline = Date.now() + 30_000;
    let analytics = await scrape(stack.analytics);
    while (!settled(analytics) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      analytics = await scrape(stack.analytics);
    }
    byService.set('analytics', analytics);
    byService.set('gateway', await scrape(stack.gateway));
    // The relay counts a publish once Kafka acknowledged it, which can be after analytics handled it.
    let task = await scrape(stack.task);
    while (!/^task_outbox_published_total\{[^}]*\} [1-9]/m.test(pages.get('task')!) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      task = await scrape(stack.task);
    }
    byService.set('task', task);
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('when every panel and alert expression is parsed as PromQL, then none has a syntax error', () => {
    const queries = allQueries();
    expect(queries.length).toBeGreaterThan(40);
    const broken = queries
      .map((q) => ({ where: q.where, errors: analyse(q.expr, labelsOf).syntaxErrors }))
      .filter((q) => q.errors.length > 0);
    expect(broken).toEqual([]);
  });

  it('when their selectors are checked, then they name only catalogued metrics, with the suffixes their type has and labels they carry', () => {
    const problems: string[] = [];
    for (const q of allQueries()) {
      const a = analyse(q.expr, labelsOf);
      for (const s of a.selectors)
        if (!catalogued(s.metric)) problems.push(`${q.where}: ${s.metric} is not a catalogued metric (or the wrong suffix for its type)`);
      for (const l of a.unknownLabels) problems.push(`${q.where}: unknown label ${l}`);
      const missing = q.templateLabels.filter((l) => !a.outputLabels?.has(l));
      if (missing.length > 0) problems.push(`${q.where}: template names ${missing.join(', ')}, not on the resulting series`);
    }
    expect(problems).toEqual([]);
  });

  it('when the shared packages run, then every metric catalogued for them is exposed, with its type and labels', () => {
    const problems: string[] = [];
    for (const [name, spec] of Object.entries(METRICS)) {
      if (spec.source !== 'shared') continue;
      const family = scraped.get(name);
      if (!family) {
        problems.push(`${name}: not exposed`);
        continue;
      }
      if (family.type !== spec.type) problems.push(`${name}: exposed as ${family.type}, catalogued as ${spec.type}`);
      if (family.samples === 0) problems.push(`${name}: no samples after the traffic of this test`);
      const missing = spec.labels.filter((l) => !family.labels.has(l));
      if (missing.length > 0) problems.push(`${name}: samples lack ${missing.join(', ')}`);
    }
    expect(problems).toEqual([]);
  });

  it('when the services run, then each exposes every metric catalogued for it, with its type, labels and samples', () => {
    const problems: string[] = [];
    for (const [name, spec] of Object.entries(METRICS)) {
      // `up` is Prometheus' own; panels.test.ts reads it from a real one.
      if (spec.source === 'shared' || spec.source === 'prometheus') continue;
      const family = byService.get(spec.source)!.get(name);
      if (!family) {
        problems.push(`${name}: not exposed by ${spec.source}`);
        continue;
      }
      if (family.type !== spec.type) problems.push(`${name}: exposed as ${family.type}, catalogued as ${spec.type}`);
      if (family.samples === 0) problems.push(`${name}: no samples after the traffic of this test`);
      const missing = spec.labels.filter((l) => !family.labels.has(l));
      if (missing.length > 0) problems.push(`${name}: samples lack ${missing.join(', ')}`);
    }
    expect(problems).toEqual([]);
    // The traffic of this test is what they counted.
    const value = (service: string, sample: RegExp) => Number(new RegExp(`^${sample.source} (\\S+)$`, 'm').exec(pages.get(service)!)?.[1]);
    expect(value('task', /task_outbox_published_total\{[^}]*\}/)).toBeGreaterThanOrEqual(1);
    expect(value('gateway', /gateway_rate_limit_rejections_total\{[^}]*bucket="user"[^}]*\}/)).toBe(1);
    expect(value('gateway', /gateway_upstream_duration_seconds_count\{[^}]*upstream="task"[^}]*status_code="201"[^}]*\}/)).toBe(1);
    expect(value('analytics', /analytics_events_processed_total\{[^}]*type="TaskCreated"[^}]*outcome="applied"[^}]*\}/)).toBe(1);
    expect(value('analytics', /analytics_dead_letters_total\{[^}]*\}/)).toBe(1);
    // The services count Kafka traffic into their own registries too.
    expect(byService.get('task')!.get('kafka_messages_produced_total')?.samples).toBeGreaterThan(0);
    expect(byService.get('analytics')!.get('kafka_messages_consumed_total')?.samples).toBeGreaterThan(0);
    expect(byService.get('analytics')!.get('kafka_consumer_lag')?.samples).toBeGreaterThan(0);
  });

  it('when a dashboard or an alert names a metric, then a running process exposes it', () => {
    const referenced = new Set<MetricName>();
    for (const q of allQueries()) for (const s of analyse(q.expr, labelsOf).selectors) referenced.add(catalogued(s.metric)!.family);
    for (const d of Object.values(dashboards)) {
      for (const v of d.templating.list) {
        const m = /^label_values\((\w+),/.exec(v.query.query);
        if (m) referenced.add(catalogued(m[1]!)!.family);
      }
    }
    const exposed = (name: string) =>
      METRICS[name as MetricName].source === 'prometheus' || scraped.has(name) || [...byService.values()].some((m) => m.has(name));
    expect([...referenced].filter((name) => !exposed(name))).toEqual([]);
    expect(referenced.size).toBe(Object.keys(METRICS).length);
  });

  it('when the alerts are read, then they cover slow and failing services, growing lag and an open breaker, with durations Prometheus accepts', () => {
    const rules = prometheusAlertRules().groups.flatMap((g) => g.rules);
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.TaskmeshHighLatencyP95).toMatchObject({ for: '5m' });
    expect(byName.TaskmeshHighLatencyP95!.expr).toMatch(/histogram_quantile\(0\.95, .*\) > 0\.5$/);
    expect(byName.TaskmeshHigh5xxRatio).toMatchObject({ for: '5m' });
    expect(byName.TaskmeshHigh5xxRatio!.expr).toMatch(/status_code=~"5\.\."/);
    expect(byName.TaskmeshHigh5xxRatio!.expr).toMatch(/> 0\.01$/);
    expect(byName.TaskmeshConsumerLagGrowing!.expr).toMatch(/deriv\(.*kafka_consumer_lag/);
    expect(byName.TaskmeshCircuitBreakerOpen!.expr).toBe('max by (upstream) (gateway_circuit_breaker_state) == 2');
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^(\d+[smhdwy])+$/);
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(0);
      expect(Object.values(dashboards).map((d) => `/d/${d.uid}`)).toContain(r.annotations.dashboard);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it('when the dashboards are built, then uids are unique and every panel has an id, a title and the provisioned Prometheus as its source', () => {
    const uids = Object.values(dashboards).map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(Object.keys(dashboards).sort()).toEqual(['gateway.json', 'kafka.json', 'overview.json', 'runtime.json']);
    for (const d of Object.values(dashboards)) {
      const panels = panelsOf(d);
      expect(new Set(panels.map((p) => p.id)).size, d.uid).toBe(panels.length);
      for (const p of panels.filter((p) => p.type !== 'row')) {
        expect(p.title, d.uid).toBeTruthy();
        expect(p.datasource?.uid, `${d.uid} › ${p.title}`).toBe(PROMETHEUS_UID);
        expect(p.targets?.length, `${d.uid} › ${p.title}`).toBeGreaterThan(0);
      }
    }
  });

  it('when generated twice, then the output is byte for byte the same and equals the committed files', () => {
    const first = generatedFiles();
    expect(generatedFiles()).toEqual(first);
    const committed = Object.fromEntries(readdirSync(GENERATED_DIR).map((f) => [f, readFileSync(path.join(GENERATED_DIR, f), 'utf8')]));
    // On a difference, regenerate: npm run generate -w packages/dashboards
    expect(committed).toEqual(first);
  });

  it('when Grafana and the collector are provisioned, then the data-source uids are the ones the dashboards use and the trace pipeline is complete', () => {
    const sources = (
      grafanaDataSources({ prometheusUrl: 'http://prometheus:9090', jaegerUrl: 'http://jaeger:16686' }) as {
        datasources: { uid: string; type: string }[];
      }
    ).datasources;
    expect(sources.map((s) => [s.type, s.uid])).toEqual([
      ['prometheus', PROMETHEUS_UID],
      ['jaeger', TRACES_UID],
    ]);
    const collector = otelCollectorConfig({ tracesEndpoint: 'jaeger:4317' }) as {
      receivers: Record<string, unknown>;
      processors: Record<string, unknown>;
      exporters: Record<string, { endpoint: string }>;
      extensions: Record<string, unknown>;
      service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
    };
    const traces = collector.service.pipelines.traces!;
    for (const r of traces.receivers) expect(collector.receivers).toHaveProperty(r);
    for (const p of traces.processors) expect(collector.processors).toHaveProperty(p);
    for (const e of traces.exporters) expect(collector.exporters[e]?.endpoint).toBe('jaeger:4317');
    for (const x of collector.service.extensions) expect(collector.extensions).toHaveProperty(x);
    // memory_limiter must come first to protect the collector before anything else runs.
    expect(traces.processors[0]).toBe('memory_limiter');
  });
});

describe('the expression checks themselves', () => {
  it.each([
    ['sum by (service) (rate(http_request_duration_seconds_count[5m])', 'syntax', 1],
    ['sum by (route) (kafka_consumer_lag)', 'unknownLabels', 1],
    ['kafka_consumer_lag{route="/x"}', 'unknownLabels', 1],
    ['histogram_quantile(0.95, sum by (service) (rate(http_request_duration_seconds_bucket[5m])))', 'unknownLabels', 1],
    [
      'sum(rate(kafka_messages_produced_total[5m])) / on (topic) sum by (topic) (rate(kafka_messages_produced_total[5m]))',
      'unknownLabels',
      1,
    ],
  ])('when given %s, then it reports %s problems', (expr, kind, count) => {
    const a = analyse(expr, labelsOf);
    expect(kind === 'syntax' ? a.syntaxErrors.length : a.unknownLabels.length).toBe(count);
  });

  it('when a query names a histogram by its bare name or an unknown metric, then it is not catalogued', () => {
    expect(catalogued('http_request_duration_seconds')).toBeUndefined();
    expect(catalogued('http_requests_total')).toBeUndefined();
    expect(catalogued('kafka_consumer_lag_bucket')).toBeUndefined();
    expect(catalogued('http_request_duration_seconds_bucket')?.labels.has('le')).toBe(true);
  });

  it('when labels pass through aggregations, functions and binary operators, then the resulting series keep exactly those', () => {
    const out = (expr: string) => [...(analyse(expr, labelsOf).outputLabels ?? [])].sort();
    expect(out('histogram_quantile(0.95, sum by (service, route, le) (rate(http_request_duration_seconds_bucket[5m])))')).toEqual([
      'route',
      'service',
    ]);
    expect(out('sum by (group, topic) (kafka_consumer_lag) > 0 and deriv(sum by (group, topic) (kafka_consumer_lag)[10m:1m]) > 0')).toEqual(
      ['group', 'topic'],
    );
    expect(out('sum without (partition, instance, job, app, namespace, pod, container) (kafka_consumer_lag)')).toEqual([
      'group',
      'service',
      'topic',
    ]);
    expect(analyse('sum(kafka_consumer_lag)', labelsOf).outputLabels).toEqual(new Set());
  });
});
