import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const STUB = path.join(import.meta.dirname, 'stub-upstream.mjs');

export interface StubUpstream {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Requests it served on its echo route (not counting health, docs or stats). */
  served(): Promise<number>;
  /** Connections that carried those requests. */
  connections(): Promise<number>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a stub upstream as a separate process on 127.0.0.1 (a free port unless one is given). */
export async function startStub(name: string, port = 0): Promise<StubUpstream> {
  const child: ChildProcess = spawn(process.execPath, [STUB], {
    env: { ...process.env, STUB_NAME: name, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const actual = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stub ${name} did not start within 10 s`)), 10_000);
    child.once('exit', (code) => reject(new Error(`stub ${name} exited with ${code}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const url = `http://127.0.0.1:${actual}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const stats = async () => (await (await fetch(`${url}/__stats`)).json()) as { served: number; connections: number };
  return {
    name,
    port: actual,
    url,
    served: async () => (await stats()).served,
    connections: async () => (await stats()).connections,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}
