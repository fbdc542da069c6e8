/**
 * Preload: `node --import @taskmesh/telemetry/register dist/server.js`. It must run before the
 * service imports anything it instruments, so it installs the ESM hook, starts the SDK, and waits
 * until the hook knows which modules to wrap. Nothing here may import Fastify or the clients.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { startTelemetry } from './sdk.js';

/** Also `BEFORE_EXIT` in @taskmesh/service-kit, whose graceful shutdown runs these hooks. */
const BEFORE_EXIT = Symbol.for('taskmesh.beforeExit');
/** A collector that does not answer must not hold the shutdown for long. */
const FLUSH_BOUND_MS = 3000;

if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') {
  // Only the modules the instrumentations name are wrapped; everything else loads untouched.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  const telemetry = startTelemetry();
  await waitForAllMessagesAcknowledged();

  const flush = () => Promise.race([telemetry.shutdown(), new Promise<void>((resolve) => setTimeout(resolve, FLUSH_BOUND_MS).unref())]);
  const holder = globalThis as Record<symbol, unknown>;
  const hooks = (holder[BEFORE_EXIT] ??= []) as (() => Promise<void>)[];
  hooks.push(flush);
  // A process that ends on its own (a script, a job) flushes too.
  process.once('beforeExit', () => void flush());
}
