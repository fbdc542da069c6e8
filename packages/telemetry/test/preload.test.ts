import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRequested } from '../src/sdk.js';

const root = path.resolve(import.meta.dirname, '../../..');
const fixture = path.join(import.meta.dirname, 'fixture');

interface LogLine {
  msg?: string;
  /** Fastify's request id key. */
  reqId?: string;
  traceId?: string;
  spanId?: string;
  port?: number;
  service?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
}

interface Started {
  child: ChildProcess;
  port: number;
  lines: LogLine[];
  exited: Promise<number | null>;
}

/** Starts the fixture service the way a deployment does, from its own folder, with the preload. */
async function startService(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', '@taskmesh/telemetry/register', 'server.mjs'], {
    cwd: fixture,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as LogLine;
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        if (line.msg === 'listening') resolve(line.port!);
      }
    });
    void exited.then((code) => reject(new Error(`the service exited (${code}) before listening: ${stderr}`)));
  });
  return { child, port, lines, exited };
}

/** A stand-in OpenTelemetry Collector: OTLP over HTTP with JSON bodies. */
async function startCollector(): Promise<{ server: Server; endpoint: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string } }[];
}
interface OtlpExport {
  resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

describe('the register preload in a real process', () => {
  beforeAll(() => {
    // The preload runs from the packages' build output, as in the container image.
    execFileSync(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/service-kit', 'packages/telemetry'],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
  }, 120_000);

  let collector: Awaited<ReturnType<typeof startCollector>>;
  beforeAll(async () => {
    collector = await startCollector();
  });
  afterAll(() => new Promise<void>((resolve) => collector.server.close(() => resolve())));

  it("when an OTLP endpoint is set, then request logs carry the caller's trace id and the spans reach the collector when the service stops", async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const svc = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Only the flush on SIGTERM can deliver the spans within the test.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    try {
      expect((await fetch(`http://127.0.0.1:${svc.port}/health/live`)).status).toBe(200);
      const res = await fetch(`http://127.0.0.1:${svc.port}/work/abc`, { headers: { traceparent: `00-${traceId}-${parentId}-01` } });
      expect(res.status).toBe(200);
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);

    const requestLines = svc.lines.filter((l) => l.reqId !== undefined && l.msg !== undefined && !l.msg.includes('/health'));
    expect(requestLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['working', 'request completed']));
    // One line per request, with what used to take two.
    expect(requestLines.filter((l) => l.msg === 'request completed')).toEqual([
      expect.objectContaining({ req: expect.objectContaining({ method: 'GET', url: '/work/abc' }), res: { statusCode: 200 }, responseTime: expect.any(Number) }),
    ]);
    for (const line of requestLines) {
      expect(line.traceId).toBe(traceId);
      expect(line.spanId).toMatch(/^[0-9a-f]{16}$/);
    }

    const exported = (collector.bodies as OtlpExport[]).flatMap((b) => b.resourceSpans);
    const names = exported.map((r) => r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue);
    expect(new Set(names)).toEqual(new Set(['fixture']));
    const spans = exported.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const server = spans.find((s) => s.kind === 2);
    expect(server).toMatchObject({ traceId, parentSpanId: parentId });
    expect(
      spans.every((s) => s.traceId === traceId),
      'probes are not traced',
    ).toBe(true);
  });

  it('when OTEL_SDK_DISABLED is true, then the service runs without tracing and its logs carry no trace id', async () => {
    const svc = await startService({ OTEL_SDK_DISABLED: 'true' });
    try {
      const res = await fetch(`http://127.0.0.1:${svc.port}/work/abc`, {
        headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
      });
      expect(res.status).toBe(200);
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);
    expect(svc.lines.find((l) => l.msg === 'working')).toBeDefined();
    expect(svc.lines.filter((l) => l.traceId !== undefined)).toEqual([]);
  });

  it("when no exporter is configured, then tracing still continues the caller's trace in the logs", async () => {
    const traceId = randomBytes(16).toString('hex');
    const svc = await startService({});
    try {
      await fetch(`http://127.0.0.1:${svc.port}/work/abc`, { headers: { traceparent: `00-${traceId}-${'c'.repeat(16)}-01` } });
    } finally {
      svc.child.kill('SIGTERM');
    }
    expect(await svc.exited).toBe(0);
    expect(svc.lines.find((l) => l.msg === 'working')?.traceId).toBe(traceId);
  });
});

describe('when trace export is on', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
  ])('when the environment is %j, then export is %s', (env, expected) => {
    expect(exportRequested(env)).toBe(expected);
  });
});
