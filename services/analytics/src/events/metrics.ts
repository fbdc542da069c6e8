import { consumerLag, type Kafka } from '@taskmesh/kafka';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The consumer's metrics; names are fixed across the team (dashboards and alerts use them). */
export interface ConsumerMetrics {
  processed: Counter<'type' | 'outcome'>;
  dedupHits: Counter;
  deadLetters: Counter<'kind'>;
  processing: Histogram<'type'>;
}

export function createConsumerMetrics(registry: Registry): ConsumerMetrics {
  return {
    processed: new Counter({
      name: 'analytics_events_processed_total',
      help: 'Events handled, by type and outcome (applied, redelivered, duplicate, dead_lettered, error)',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    dedupHits: new Counter({
      name: 'analytics_dedup_hits_total',
      help: 'Deliveries recognised as already applied (redeliveries and copies)',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'analytics_dead_letters_total',
      help: 'Messages sent to the dead-letter topic, by kind (invalid, failed)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    processing: new Histogram({
      name: 'analytics_event_processing_seconds',
      help: 'Time from taking a message to its effect being stored (or dead-lettered)',
      labelNames: ['type'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export interface LagGaugeOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Answers are reused for this long, so that frequent scrapes cost one broker round trip. @default 5000 */
  readonly cacheMs?: number;
}

/**
 * `kafka_consumer_lag{topic,partition,group}`, measured from the broker when scraped. Skipped when
 * the registry already has the series (the Kafka package may come to provide it), so the two can
 * never clash.
 */
export function registerLagGauge(registry: Registry, kafka: Kafka, opts: LagGaugeOptions): void {
  if (registry.getSingleMetric('kafka_consumer_lag')) return;
  const cacheMs = opts.cacheMs ?? 5000;
  let last: { at: number; lags: Awaited<ReturnType<typeof consumerLag>> } | undefined;
  new Gauge({
    name: 'kafka_consumer_lag',
    help: 'Messages in a partition not yet committed by the consumer group',
    labelNames: ['topic', 'partition', 'group'] as const,
    registers: [registry],
    async collect() {
      if (!last || Date.now() - last.at > cacheMs) {
        try {
          last = { at: Date.now(), lags: await consumerLag(kafka, opts.groupId, opts.topics) };
        } catch {
          // A broker that does not answer leaves the gauge empty rather than failing the scrape.
          this.reset();
          return;
        }
      }
      this.reset();
      for (const l of last.lags) this.set({ topic: l.topic, partition: String(l.partition), group: opts.groupId }, l.lag);
    },
  });
}
