import { createRequire } from 'node:module';
import path from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTelemetry, type Telemetry } from './sdk.js';

export type { ReadableSpan };

export interface TestTelemetry {
  readonly exporter: InMemorySpanExporter;
  /** Every span finished so far, in the order they ended. */
  spans(): ReadableSpan[];
  /** The finished spans of one trace. */
  trace(traceId: string): ReadableSpan[];
  /** Polls until a finished span satisfies `match`; rejects after `timeoutMs`. */
  waitForSpan(match: (span: ReadableSpan) => boolean, timeoutMs?: number): Promise<ReadableSpan>;
  /** Forgets the spans finished so far. */
  reset(): void;
  shutdown(): Promise<void>;
}

/** CommonJS packages whose main module the instrumentations patch. */
const PATCHED_ON_LOAD = ['kafkajs', 'ioredis', 'mongodb', 'fastify'];

/**
 * Test runners import dependencies by absolute path, which the ESM hook of the preload does not
 * match by package name. Requiring them here, once the instrumentations are enabled, patches them
 * through the CommonJS hook; a later `import` gets the same, patched, module from the cache.
 */
function loadInstrumentedModules(): void {
  const require = createRequire(path.join(process.cwd(), 'index.js'));
  for (const name of PATCHED_ON_LOAD) {
    try {
      require(name);
    } catch {
      // not a dependency of the code under test
    }
  }
}

const KEY = Symbol.for('taskmesh.telemetry.test');
type Holder = { [KEY]?: Promise<TestTelemetry> };

/**
 * Starts tracing with the platform's instrumentations and an in-memory exporter, once per
 * process (the OpenTelemetry API accepts one global provider): later calls get the same instance.
 * Call it before the code under test is imported (`await import(...)` afterwards), so that the
 * libraries are wrapped before first use, as the `register` preload does for a service.
 */
export function startTestTelemetry(opts: { serviceName?: string } = {}): Promise<TestTelemetry> {
  const holder = globalThis as Holder;
  holder[KEY] ??= (async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry: Telemetry = startTelemetry({
      serviceName: opts.serviceName ?? 'test',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    loadInstrumentedModules();
    const spans = () => exporter.getFinishedSpans();
    return {
      exporter,
      spans,
      trace: (traceId) => spans().filter((s) => s.spanContext().traceId === traceId),
      waitForSpan: async (match, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = spans().find(match);
          if (found) return found;
          if (Date.now() > deadline) {
            const names = [...new Set(spans().map((s) => s.name))].join(', ');
            throw new Error(`no matching span within ${timeoutMs} ms (${spans().length} spans finished: ${names})`);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      reset: () => exporter.reset(),
      shutdown: () => telemetry.shutdown(),
    };
  })();
  return holder[KEY];
}
