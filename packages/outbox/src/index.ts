export { outboxMetrics, type OutboxMetricsOptions } from './metrics.js';
export { OutboxPublisher, type OutboxMessage, type Publisher } from './publisher.js';
export {
  OutboxRelay,
  type OutboxStore,
  type OutboxWork,
  type RelayHooks,
  type RelayOptions,
  type RelaySettings,
  type RoundOutcome,
} from './relay.js';
export { watchChanges, type ChangeWatch, type WatchOptions } from './watch.js';
