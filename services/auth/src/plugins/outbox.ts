import { TOPICS } from '@taskmesh/events';
import { OutboxPublisher, OutboxRelay, outboxMetrics } from '@taskmesh/outbox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { UserOutbox, userWork, type UserWork } from '../domain/events/user-outbox.js';
import type { UserDoc } from '../domain/users/user-repository.js';

/** What a registration needs of the outbox: its user's event on its way now. */
export interface UserEvents {
  /** Publishes the user's stored events in the background; a failure leaves them to the relay. */
  publishSoon(user: UserDoc): void;
  readonly relay: OutboxRelay<UserWork>;
}

declare module 'fastify' {
  interface FastifyInstance {
    userEvents: UserEvents;
  }
}

export interface OutboxPluginOptions {
  /** Time between two relay rounds when nothing is pending. */
  readonly intervalMs: number;
  /** Events younger than this are left to the request that wrote them. */
  readonly graceMs: number;
}

/**
 * The relay that sends `UserRegistered` from user documents to Kafka (over a producer of its own,
 * renewed after a broker failure), and its metrics. Registered after the Kafka plugin, so that it
 * stops first and in-flight publishes finish.
 */
export const outboxPlugin = fp<OutboxPluginOptions>(
  async (app: FastifyInstance, opts) => {
    const { users } = app.repositories;
    const hooks = outboxMetrics({
      registry: app.metrics,
      prefix: 'auth_outbox',
      events: 'User events',
      backlog: { read: () => users.countPendingEvents(), help: 'User documents with an event not yet published' },
      log: app.log,
    });
    const publisher = new OutboxPublisher(app.kafka.client, TOPICS.userEvents);
    const relay = new OutboxRelay<UserWork>({
      store: new UserOutbox(users, { graceMs: opts.graceMs }),
      publisher,
      settings: { pollMs: opts.intervalMs, maxBackoffMs: Math.max(opts.intervalMs, 10_000) },
      log: app.log,
      hooks,
    });
    app.decorate('userEvents', {
      relay,
      publishSoon(user: UserDoc) {
        relay.publishNow([userWork(user)]).catch((err: unknown) => {
          app.log.warn({ err, userId: user._id }, 'event not published yet; the relay will retry');
        });
      },
    });
    app.addHook('onReady', async () => {
      // The topic exists before the first event, so consumers can subscribe at once.
      await publisher
        .prepare()
        .catch((err: unknown) => app.log.warn({ err }, 'cannot create the user-events topic yet; the relay will retry'));
      relay.start();
    });
    app.addHook('onClose', async () => relay.stop());
  },
  { name: 'auth-outbox', dependencies: ['auth-repositories', '@taskmesh/kafka', '@taskmesh/metrics'] },
);
