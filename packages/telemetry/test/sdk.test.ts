import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { platformInstrumentations } from '../src/instrumentations.js';
import { localSampler } from '../src/sdk.js';

const traceId = 'ab'.repeat(16);
const withParent = (traceFlags: number) =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: 'cd'.repeat(8), traceFlags, isRemote: true });

describe('the sampler of a process that exports nothing', () => {
  it('when it starts a trace itself, then nothing is recorded', () => {
    expect(localSampler().shouldSample(ROOT_CONTEXT, traceId, 'GET', SpanKind.SERVER, {}, []).decision).toBe(SamplingDecision.NOT_RECORD);
  });

  it('when the caller sampled the trace, then it is recorded and stays sampled; when not, not', () => {
    const sampler = localSampler();
    expect(sampler.shouldSample(withParent(TraceFlags.SAMPLED), traceId, 'GET', SpanKind.SERVER, {}, []).decision).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(sampler.shouldSample(withParent(TraceFlags.NONE), traceId, 'GET', SpanKind.SERVER, {}, []).decision).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });
});

describe('the platform instrumentations', () => {
  it('when OTEL_NODE_DISABLED_INSTRUMENTATIONS names some, then those are left out and the others kept', () => {
    const names = (env: NodeJS.ProcessEnv) => platformInstrumentations(env).map((i) => i.instrumentationName);
    const all = names({});
    expect(all).toHaveLength(6);
    const some = names({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'fastify, mongodb' });
    expect(some).toHaveLength(4);
    expect(some.some((n) => /fastify|mongodb/.test(n))).toBe(false);
  });

  it('when nothing is exported, then only those that carry the trace on are loaded: HTTP in and out and Kafka', () => {
    const names = platformInstrumentations({}, { exporting: false }).map((i) => i.instrumentationName);
    expect(names.sort()).toEqual([
      '@opentelemetry/instrumentation-http',
      '@opentelemetry/instrumentation-kafkajs',
      '@opentelemetry/instrumentation-undici',
    ]);
  });
});
