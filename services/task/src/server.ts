import { ConfigError, installGracefulShutdown, loadConfig } from '@taskmesh/fastify-plugins';
import { buildApp } from './app.js';
import { ConfigSchema, LOCAL_CURSOR_SECRET } from './config.js';

async function main(): Promise<void> {
  const config = loadConfig(ConfigSchema);
  if (process.env.NODE_ENV === 'production' && config.CURSOR_SECRET === LOCAL_CURSOR_SECRET) {
    throw new ConfigError(['CURSOR_SECRET: must be set in production (the default is public)']);
  }
  const app = await buildApp(config);
  installGracefulShutdown(app, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  await app.listen({ host: config.HOST, port: config.PORT });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`task: ${err.message}`);
  else console.error('task: failed to start', err);
  process.exit(1);
});
