import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig } from './config.js';
import { installGracefulShutdown, startupLogger, type BackoffLogger } from './shutdown.js';

/** What the runner reads from every configuration: the `serverConfig` fragment. */
interface ServerSettings {
  readonly HOST: string;
  readonly PORT: number;
  readonly SHUTDOWN_TIMEOUT_MS: number;
  readonly DRAIN_MS: number;
}

export interface ServiceRunner<S extends TSchema> {
  /** Names the service on the lines a failed start prints. */
  readonly name: string;
  /** The service's configuration schema; it spreads `serverConfig`. */
  readonly config: S;
  /** Rules the schema cannot state; throws a `ConfigError`. */
  readonly check?: (config: Static<S>) => void;
  /** What must answer before the app is built (the database), given a start-up logger. */
  readonly before?: (config: Static<S>, log: BackoffLogger) => Promise<void>;
  /** `buildApp`: never listens, never reads the environment. */
  readonly build: (config: Static<S>) => Promise<FastifyInstance>;
}

/**
 * The one program behind every `server.ts`: load and check the configuration (failing before
 * anything connects), wait for what must answer first, build the app, install the graceful
 * shutdown, listen. A bad configuration or a failed start prints one line naming the service and
 * exits 1. The tracing preload (`--import @taskmesh/telemetry/register`) runs before all of it.
 */
export async function runService<S extends TSchema>(runner: ServiceRunner<S>): Promise<FastifyInstance> {
  try {
    const config = loadConfig(runner.config);
    const server = config as unknown as Partial<ServerSettings>;
    if (typeof server.PORT !== 'number' || typeof server.HOST !== 'string') {
      throw new ConfigError(['HOST, PORT: the configuration schema must spread serverConfig()']);
    }
    runner.check?.(config);
    await runner.before?.(config, startupLogger(runner.name));
    const app = await runner.build(config);
    installGracefulShutdown(app, {
      ...(server.SHUTDOWN_TIMEOUT_MS === undefined ? {} : { timeoutMs: server.SHUTDOWN_TIMEOUT_MS }),
      ...(server.DRAIN_MS === undefined ? {} : { drainMs: server.DRAIN_MS }),
    });
    await app.listen({ host: server.HOST, port: server.PORT });
    return app;
  } catch (err) {
    if (err instanceof ConfigError) console.error(`${runner.name}: ${err.message}`);
    else console.error(`${runner.name}: failed to start`, err);
    process.exit(1);
  }
}
