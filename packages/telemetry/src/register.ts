/**
 * Preload: `node --import @taskmesh/telemetry/register dist/server.js`. It must run before the
 * service imports anything it instruments, so it installs the ESM hook, starts the SDK, and waits
 * until the hook knows which modules to wrap.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { startTelemetry } from './sdk.js';

if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') {
  // Only the modules the instrumentations name are wrapped; everything else loads untouched.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  const telemetry = startTelemetry();
  await waitForAllMessagesAcknowledged();

  // Flush buffered spans on the way out. The service's own SIGTERM handler closes the app and
  // exits; when there is none, the signal is raised again after the flush so that it still ends
  // the process.
  const onSignal = (signal: NodeJS.Signals) => {
    const handledElsewhere = process.listenerCount(signal) > 1;
    process.removeListener(signal, onSignal);
    void telemetry.shutdown().finally(() => {
      if (!handledElsewhere) process.kill(process.pid, signal);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
