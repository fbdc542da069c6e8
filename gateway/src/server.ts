import { ConfigError, installGracefulShutdown, loadConfig } from '@taskmesh/service-kit';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(ConfigSchema);
  const app = await buildApp(config);
  installGracefulShutdown(app, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, drainMs: config.DRAIN_MS });
  await app.listen({ host: config.HOST, port: config.PORT });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`gateway: ${err.message}`);
  else console.error('gateway: failed to start', err);
  process.exit(1);
});
