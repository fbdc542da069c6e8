import type { MongoClient } from 'mongodb';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Connection-pool figures from the driver's pool events (emitted by every MongoClient, no
 * command monitoring needed): `mongodb_pool_connections{state="idle"|"in_use"}`,
 * `mongodb_pool_max_connections`, `mongodb_pool_waiting_checkouts` and
 * `mongodb_pool_checkout_failures_total{reason}`, for one client per registry. Returns a function
 * that stops listening.
 */
export function observePool(client: MongoClient, registry: Registry): () => void {
  let open = 0;
  let inUse = 0;
  let waiting = 0;
  const maxByServer = new Map<string, number>();
  const metric = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();

  const connections = metric(
    'mongodb_pool_connections',
    () =>
      new Gauge({
        name: 'mongodb_pool_connections',
        help: 'Connections in the driver pools, idle or checked out by an operation',
        labelNames: ['state'] as const,
        registers: [registry],
      }),
  );
  const max = metric(
    'mongodb_pool_max_connections',
    () =>
      new Gauge({ name: 'mongodb_pool_max_connections', help: 'Upper bound of the pools (maxPoolSize per server)', registers: [registry] }),
  );
  const waitingGauge = metric(
    'mongodb_pool_waiting_checkouts',
    () => new Gauge({ name: 'mongodb_pool_waiting_checkouts', help: 'Operations waiting for a pooled connection', registers: [registry] }),
  );
  const failures = metric(
    'mongodb_pool_checkout_failures_total',
    () =>
      new Counter({
        name: 'mongodb_pool_checkout_failures_total',
        help: 'Connection checkouts that failed, by reason (timeout, connectionError, poolClosed)',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
  );
  const publish = () => {
    connections.set({ state: 'in_use' }, inUse);
    connections.set({ state: 'idle' }, Math.max(0, open - inUse));
    waitingGauge.set(waiting);
    max.set([...maxByServer.values()].reduce((a, b) => a + b, 0));
  };

  const handlers: Record<string, (e: never) => void> = {
    connectionPoolCreated: (e: { address: string; options: { maxPoolSize?: number } }) =>
      maxByServer.set(e.address, e.options.maxPoolSize ?? 0),
    connectionPoolClosed: (e: { address: string }) => maxByServer.delete(e.address),
    connectionCreated: () => open++,
    connectionClosed: () => open--,
    connectionCheckOutStarted: () => waiting++,
    connectionCheckedOut: () => {
      waiting--;
      inUse++;
    },
    connectionCheckOutFailed: (e: { reason: string }) => {
      waiting--;
      failures.inc({ reason: e.reason });
    },
    connectionCheckedIn: () => inUse--,
  };
  const listeners = Object.entries(handlers).map(([event, handler]) => {
    const listener = (e: unknown) => {
      (handler as (e: unknown) => void)(e);
      publish();
    };
    client.on(event as 'connectionCreated', listener);
    return [event as 'connectionCreated', listener] as const;
  });
  publish();
  return () => {
    for (const [event, listener] of listeners) client.off(event, listener);
  };
}
