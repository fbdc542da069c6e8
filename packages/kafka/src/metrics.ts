import { Counter, Gauge, type Registry } from 'prom-client';

/** The Kafka series of one registry (one process, or one app in a test). */
export interface KafkaMetrics {
  readonly produced: Counter<'topic'>;
  readonly consumed: Counter<'topic' | 'group'>;
  readonly lag: Gauge<'topic' | 'partition' | 'group'>;
}

const byRegistry = new WeakMap<Registry, KafkaMetrics>();

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * `kafka_messages_produced_total{topic}`, `kafka_messages_consumed_total{topic,group}` and
 * `kafka_consumer_lag{topic,partition,group}`, created once per registry however many producers
 * and consumers share it. The `service` label comes from the registry's default labels.
 */
export function kafkaMetrics(registry: Registry): KafkaMetrics {
  let metrics = byRegistry.get(registry);
  if (metrics) return metrics;
  const registers = [registry];
  metrics = {
    produced: reuse(
      registry,
      'kafka_messages_produced_total',
      () =>
        new Counter({
          name: 'kafka_messages_produced_total',
          help: 'Messages acknowledged by the brokers, by topic',
          labelNames: ['topic'] as const,
          registers,
        }),
    ),
    consumed: reuse(
      registry,
      'kafka_messages_consumed_total',
      () =>
        new Counter({
          name: 'kafka_messages_consumed_total',
          help: 'Messages handled successfully, by topic and consumer group',
          labelNames: ['topic', 'group'] as const,
          registers,
        }),
    ),
    lag: reuse(
      registry,
      'kafka_consumer_lag',
      () =>
        new Gauge({
          name: 'kafka_consumer_lag',
          help: 'Messages in the partition after the last one handled, as of the latest fetch',
          labelNames: ['topic', 'partition', 'group'] as const,
          registers,
        }),
    ),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
