import { ConfigError, installGracefulShutdown, loadConfig, startupLogger } from '@taskmesh/service-kit';
import { waitForMongo } from '@taskmesh/mongo';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(ConfigSchema);
  // The crash callback may in principle fire before buildApp has returned.
  const started: { app?: FastifyInstance } = {};
  // Wait for the database instead of exiting while it comes up (any start order works).
  await waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log: startupLogger('analytics') });
  const app = await buildApp(config, {
    // A consumer that gave up would leave the statistics frozen behind a live process: exit, and
    // let the orchestrator start a fresh one that resumes from the last committed offsets.
    onConsumerCrash: (err) => {
      if (started.app) started.app.log.fatal({ err }, 'the statistics consumer stopped; exiting');
      else console.error('analytics: the statistics consumer stopped; exiting', err);
      process.exit(1);
    },
  });
  started.app = app;
  installGracefulShutdown(app, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, drainMs: config.DRAIN_MS });
  await app.listen({ host: config.HOST, port: config.PORT });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`analytics: ${err.message}`);
  else console.error('analytics: failed to start', err);
  process.exit(1);
});
