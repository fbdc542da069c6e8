// What the tracing preload costs a request: the fixture service started three ways (no preload,
// preload with tracing but no exporter, preload exporting to a local stand-in collector), the same
// bounded number of sequential requests against each, medians compared in the same run.
// Run after a build: node packages/telemetry/bench/overhead.mjs [requests]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/fixture');
const requests = Math.min(Number(process.argv[2] ?? 2000), 20_000);

async function start(args, env) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, 'server.mjs'], {
    cwd: fixture,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /"port":(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  return { child, port, startupMs: performance.now() - t0 };
}

async function measure(port) {
  const url = `http://127.0.0.1:${port}/work/x`;
  for (let i = 0; i < 200; i++) await (await fetch(url)).arrayBuffer();
  const times = [];
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < requests && Date.now() < deadline; i++) {
    const t = performance.now();
    await (await fetch(url, { headers: { traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` } })).arrayBuffer();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { n: times.length, p50: times[Math.floor(times.length * 0.5)], p99: times[Math.floor(times.length * 0.99)] };
}

const collector = createServer((req, res) => req.resume().on('end', () => res.end('{}')));
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${collector.address().port}`;

const variants = [
  ['no preload', [], {}],
  ['preload, no exporter', ['--import', '@taskmesh/telemetry/register'], {}],
  [
    'preload, OTLP export',
    ['--import', '@taskmesh/telemetry/register'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
  ],
];
const results = [];
for (const [name, args, env] of variants) {
  const svc = await start(args, env);
  try {
    results.push({ name, startupMs: svc.startupMs, ...(await measure(svc.port)) });
  } finally {
    svc.child.kill('SIGTERM');
  }
}
collector.close();
const base = results[0];
for (const r of results) {
  console.log(
    `${r.name.padEnd(22)} start ${r.startupMs.toFixed(0).padStart(5)} ms  n=${r.n}  p50 ${r.p50.toFixed(3)} ms (x${(r.p50 / base.p50).toFixed(2)})  p99 ${r.p99.toFixed(3)} ms (x${(r.p99 / base.p99).toFixed(2)})`,
  );
}
