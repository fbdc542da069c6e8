import { ConfigError, installGracefulShutdown, loadConfig, startupLogger } from '@taskmesh/service-kit';
import { waitForMongo } from '@taskmesh/mongo';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(ConfigSchema);
  // Wait for the database instead of exiting while it comes up (any start order works).
  await waitForMongo(config.MONGODB_URI, { timeoutMs: config.MONGODB_STARTUP_WAIT_MS, log: startupLogger('auth') });
  const app = await buildApp(config);
  installGracefulShutdown(app, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, drainMs: config.DRAIN_MS });
  await app.listen({ host: config.HOST, port: config.PORT });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`auth: ${err.message}`);
  else console.error('auth: failed to start', err);
  process.exit(1);
});
