import { ConfigError, installGracefulShutdown, loadConfig, startupLogger } from '@taskmesh/service-kit';
import { waitForMongo } from '@taskmesh/mongo';
import { buildApp } from './app.js';
import { ConfigSchema, LOCAL_CURSOR_SECRET } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(ConfigSchema);
  if (process.env.NODE_ENV === 'production' && config.CURSOR_SECRET === LOCAL_CURSOR_SECRET) {
    throw new ConfigError(['CURSOR_SECRET: must be set in production (the default is public)']);
  }
  // Wait for the database instead of exiting while it comes up (any start order works).
  await waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log: startupLogger('task') });
  const app = await buildApp(config);
  installGracefulShutdown(app, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, drainMs: config.DRAIN_MS });
  await app.listen({ host: config.HOST, port: config.PORT });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`task: ${err.message}`);
  else console.error('task: failed to start', err);
  process.exit(1);
});
