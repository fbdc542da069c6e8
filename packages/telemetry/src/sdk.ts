import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOffSampler, NoopSpanProcessor, ParentBasedSampler, type Sampler, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { platformInstrumentations } from './instrumentations.js';

export interface TelemetryOptions {
  /**
   * The `service.name` resource attribute.
   * @default OTEL_SERVICE_NAME, else the unscoped name in ./package.json (`@taskmesh/task` → `task`)
   */
  readonly serviceName?: string;
  /**
   * Where finished spans go. Given (tests pass an in-memory exporter), it replaces the exporters
   * that the environment would select.
   * @default an OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
   * or OTEL_TRACES_EXPORTER is set, otherwise none
   */
  readonly spanProcessors?: SpanProcessor[];
  /** @default {@link platformInstrumentations}: all of them when exporting, the propagating ones otherwise */
  readonly instrumentations?: Instrumentation[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface Telemetry {
  readonly serviceName: string;
  /** True when spans leave the process (an exporter is configured). */
  readonly exporting: boolean;
  /** Flushes what is buffered and stops; later spans are dropped. */
  shutdown(): Promise<void>;
}

/** Whether the standard variables ask for trace export; without them nothing is sent anywhere. */
export function exportRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const exporters = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporters) return exporters !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

function serviceNameFrom(env: NodeJS.ProcessEnv): string {
  const given = env.OTEL_SERVICE_NAME?.trim();
  if (given) return given;
  try {
    const pkg = JSON.parse(readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) as { name?: string };
    if (pkg.name) return pkg.name.replace(/^@[^/]+\//, '');
  } catch {
    // no package.json in the working directory: the SDK's own default applies
  }
  return 'unknown_service:node';
}

/**
 * The sampler of a process that exports nothing. A trace it starts itself is not recorded: its
 * spans still get ids, so that the trace id reaches the logs and travels on in `traceparent` and
 * Kafka headers, but no span data is collected (its flag says "not sampled", and services behind
 * it, being parent-based, do not record it either). A trace whose caller sampled it is recorded as
 * before and keeps its flag, so that a collector behind this process still gets whole traces.
 */
export function localSampler(): Sampler {
  return new ParentBasedSampler({ root: new AlwaysOffSampler() });
}

/**
 * Starts the OpenTelemetry SDK with the platform's instrumentations. Tracing runs even when
 * nothing is exported: incoming `traceparent` headers are continued, trace ids reach the logs and
 * Kafka headers, so that one request can be followed across services by its trace id alone.
 * OTEL_SDK_DISABLED=true turns all of it off. Metrics stay with prom-client (`/metrics`): the SDK's
 * metric and log exporters are enabled only when OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER ask.
 */
export function startTelemetry(opts: TelemetryOptions = {}): Telemetry {
  const env = opts.env ?? process.env;
  const serviceName = opts.serviceName ?? serviceNameFrom(env);
  const exporting = opts.spanProcessors !== undefined || exportRequested(env);
  const sdk = new NodeSDK({
    serviceName,
    instrumentations: opts.instrumentations ?? platformInstrumentations(env, { exporting }),
    // Without processors the SDK would register no tracer provider at all, and trace context
    // would stop at the first service.
    ...(opts.spanProcessors ? { spanProcessors: opts.spanProcessors } : exporting ? {} : { spanProcessors: [new NoopSpanProcessor()] }),
    // Exporting, the sampler is the environment's (OTEL_TRACES_SAMPLER, parent-based always-on
    // by default). Exporting nothing, there is no point in recording spans: see localSampler.
    ...(exporting ? {} : { sampler: localSampler() }),
    ...(env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    serviceName,
    exporting,
    shutdown: () => (stopped ??= sdk.shutdown()),
  };
}
