import type { Log } from '@taskmesh/kafka';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RelayHooks } from './relay.js';

export interface OutboxMetricsOptions {
  readonly registry: Registry;
  /** Series names: `<prefix>_published_total`, `<prefix>_publish_failures_total`, `<prefix>_backlog`. */
  readonly prefix: string;
  /** What waits, for the help texts ("Task events", "User events"). */
  readonly events: string;
  /** What the backlog counts, read from the store at each scrape, and its help text. */
  readonly backlog: { read(): Promise<number>; help: string };
  readonly log: Log;
}

/**
 * A relay's series: events published, failed rounds, and the backlog read from the store when
 * scraped (the last value stands while the store cannot be read). Returns the relay's hooks.
 */
export function outboxMetrics(opts: OutboxMetricsOptions): Required<RelayHooks> {
  const registers = [opts.registry];
  const published = new Counter({
    name: `${opts.prefix}_published_total`,
    help: `${opts.events} sent to Kafka and acknowledged`,
    registers,
  });
  const failures = new Counter({
    name: `${opts.prefix}_publish_failures_total`,
    help: 'Relay rounds that failed (Kafka or the store unreachable)',
    registers,
  });
  let last = 0;
  new Gauge({
    name: `${opts.prefix}_backlog`,
    help: opts.backlog.help,
    registers,
    async collect() {
      try {
        last = await opts.backlog.read();
      } catch (err) {
        opts.log.warn({ err }, 'outbox backlog could not be read; reporting the last value');
      }
      this.set(last);
    },
  });
  return { onPublished: (n) => published.inc(n), onFailure: () => failures.inc() };
}
