import { waitForMongo } from '@taskmesh/mongo';
import { ConfigError, runService } from '@taskmesh/service-kit';
import { buildApp } from './app.js';
import { ConfigSchema, LOCAL_CURSOR_SECRET } from './config.js';

void runService({
  name: 'task',
  config: ConfigSchema,
  check: (config) => {
    if (process.env.NODE_ENV === 'production' && config.CURSOR_SECRET === LOCAL_CURSOR_SECRET) {
      throw new ConfigError(['CURSOR_SECRET: must be set in production (the default is public)']);
    }
  },
  // Wait for the database instead of exiting while it comes up (any start order works).
  before: (config, log) => waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log }),
  build: (config) => buildApp(config),
});
