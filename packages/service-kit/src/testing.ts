import type { FastifyInstance } from 'fastify';

/**
 * For tests: the value of a counter or gauge on the app's registry (what `/metrics` shows), summed
 * over the series whose labels include `labels`; 0 when there is none. Gauges with a `collect`
 * are collected first, as a scrape would.
 */
export async function metricValue(app: FastifyInstance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = app.metrics.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
