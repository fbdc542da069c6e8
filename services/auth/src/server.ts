import { waitForMongo } from '@taskmesh/mongo';
import { runService } from '@taskmesh/service-kit';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

void runService({
  name: 'auth',
  config: ConfigSchema,
  // Wait for the database instead of exiting while it comes up (any start order works).
  before: (config, log) => waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log }),
  build: (config) => buildApp(config),
});
