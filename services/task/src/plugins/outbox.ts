import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createKafka, parseBrokers } from '@taskmesh/kafka';
import { ensureIndexes } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { OutboxPublisher, OutboxRelay, outboxMetrics } from '@taskmesh/outbox';
import type { Config } from '../config.js';
import { OutboxOwners, type OwnerMarker } from '../domain/outbox/outbox-owners.js';
import { TaskOutbox, type OwnerWork } from '../domain/outbox/task-outbox.js';
import type { TaskDocument } from '../domain/tasks/task-document.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What task writers need of the outbox: the owners' markers, the relay, and its settle time. */
    outbox: { owners: OutboxOwners; relay: OutboxRelay<OwnerWork>; settleMs: number };
  }
}

export interface OutboxPluginOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly pollMs: number;
  readonly leaseMs: number;
  readonly settleMs: number;
  readonly batchOwners: number;
  readonly maxBackoffMs: number;
}

/** The relay's settings as configured (OUTBOX_*), over a Kafka client of its own. */
export function outboxOptionsFrom(config: Config): OutboxPluginOptions {
  return {
    brokers: parseBrokers(config.KAFKA_BROKERS),
    topic: config.TASK_EVENTS_TOPIC,
    pollMs: config.OUTBOX_POLL_MS,
    leaseMs: config.OUTBOX_LEASE_MS,
    settleMs: config.OUTBOX_SETTLE_MS,
    batchOwners: config.OUTBOX_BATCH_OWNERS,
    maxBackoffMs: config.OUTBOX_MAX_BACKOFF_MS,
  };
}

/**
 * The relay that moves events from task documents to Kafka, running in every instance (leases
 * keep them from sending one owner's events twice at once), plus its metrics. Kafka is not a
 * readiness check of this service on purpose: task writes keep working while it is down.
 */
export const outboxPlugin = fp<OutboxPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const owners = new OutboxOwners(app.mongo.db.collection<OwnerMarker>('outbox_owners'));
    await ensureIndexes(app.mongo.db.collection('outbox_owners'), OutboxOwners.indexes);

    // Few retries: the relay has its own back-off, and a short failure keeps rounds short.
    // kafkajs logs every failed connection attempt as an error; the relay already reports each
    // failed round once (a warning and task_outbox_publish_failures_total), so those go to debug.
    const kafkaLog = {
      debug: app.log.debug.bind(app.log),
      info: app.log.debug.bind(app.log),
      warn: app.log.debug.bind(app.log),
      error: app.log.debug.bind(app.log),
    };
    const kafka = createKafka({ brokers: opts.brokers, clientId: 'task-outbox', log: kafkaLog, retries: 2, metrics: app.metrics });
    const hooks = outboxMetrics({
      registry: app.metrics,
      prefix: 'task_outbox',
      events: 'Task events',
      backlog: {
        read: () => owners.backlog(),
        help: 'Task documents with a pending event, across all instances (read from the database: aggregate with max, not sum)',
      },
      log: app.log,
    });

    const store = new TaskOutbox(app.mongo.db.collection<TaskDocument>('tasks'), owners, {
      holder: `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      leaseMs: opts.leaseMs,
      settleMs: opts.settleMs,
      batchOwners: opts.batchOwners,
    });
    // Writers in every pod touch their owner's marker: a change stream on the markers wakes this
    // relay for them, so it need not poll. A pool of one connection would be held by the stream's
    // waiting getMore, so such a client polls instead.
    const watch = app.mongo.client.options.maxPoolSize !== 1;
    const relay = new OutboxRelay<OwnerWork>({
      store,
      publisher: new OutboxPublisher(kafka, opts.topic),
      settings: {
        pollMs: opts.pollMs,
        // Only what no writer announces: leases of a relay that died, owners re-checked after the settle time.
        watchPollMs: Math.min(5000, Math.max(opts.pollMs, opts.settleMs)),
        maxBackoffMs: opts.maxBackoffMs,
      },
      log: app.log,
      hooks,
      ...(watch ? { changes: (onChange: () => void) => owners.watchTouches(onChange, app.log) } : {}),
    });
    app.decorate('outbox', { owners, relay, settleMs: opts.settleMs });
    app.addHook('onReady', async () => relay.start());
    app.addHook('onClose', async () => relay.stop());
  },
  { name: 'outbox', dependencies: ['@taskmesh/mongo', '@taskmesh/metrics'] },
);
