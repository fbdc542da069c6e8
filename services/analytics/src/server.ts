import { waitForMongo } from '@taskmesh/mongo';
import { runService } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

let app: FastifyInstance | undefined;

void runService({
  name: 'analytics',
  config: ConfigSchema,
  // Wait for the database instead of exiting while it comes up (any start order works).
  before: (config, log) => waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log }),
  build: async (config) =>
    (app = await buildApp(config, {
      // A consumer that gave up would leave the statistics frozen behind a live process: exit, and
      // let the orchestrator start a fresh one that resumes from the last committed offsets.
      onConsumerCrash: (err) => {
        if (app) app.log.fatal({ err }, 'the statistics consumer stopped; exiting');
        else console.error('analytics: the statistics consumer stopped; exiting', err);
        process.exit(1);
      },
    })),
});
