// What the smoke, load and rollout scripts share: an HTTP client that records every exchange
// (status, latency, request id) through the public API, a test account, and a bounded load
// generator with latency percentiles. No dependencies beyond Node's own fetch, so the scripts run
// from a fresh clone before `npm ci` and from any machine that can reach a gateway.
import { randomBytes } from 'node:crypto';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

/** Thrown for a bad command line or environment; the scripts exit 2 on it. */
export class UsageError extends Error {}

/** Thrown when the system answered differently from its contract; the message names the step. */
export class Deviation extends Error {}

/**
 * The base URL from `--base-url` or BASE_URL, without a trailing slash.
 * @param {string | undefined} flag
 */
export function baseUrlFrom(flag, env = process.env) {
  const raw = flag ?? env.BASE_URL ?? DEFAULT_BASE_URL;
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`BASE_URL is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`BASE_URL must be http(s): ${raw}`);
  return url.href.replace(/\/+$/, '');
}

/**
 * A number option within bounds.
 * @param {string} name @param {string | undefined} value @param {number} fallback
 * @param {{ min?: number, max?: number, integer?: boolean }} [bounds]
 */
export function numberOption(name, value, fallback, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = false } = {}) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** A unique address per run, so runs never collide with each other or with real users. */
export function uniqueEmail(prefix = 'smoke') {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}@example.com`;
}

/** A long random password: never on a common-password list. */
export function randomPassword() {
  return `tm-${randomBytes(18).toString('base64url')}`;
}

/** Waits `ms`, or less when `signal` aborts first. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * One HTTP exchange as seen by the client.
 * @typedef {{ method: string, path: string, status: number, ok: boolean, ms: number,
 *   headers: Headers | undefined, body: any, text: string, error?: string, requestId?: string }} Exchange
 */

/**
 * A small JSON client for the public API. It never throws for an HTTP status or a network error:
 * the caller decides what is a deviation, with the whole exchange at hand.
 */
export class ApiClient {
  /** @param {string} baseUrl @param {{ timeoutMs?: number, token?: string }} [opts] */
  constructor(baseUrl, { timeoutMs = 10_000, token } = {}) {
    this.baseUrl = baseUrl;
    this.timeoutMs = timeoutMs;
    this.token = token;
  }

  /**
   * @param {string} method @param {string} path
   * @param {{ body?: unknown, headers?: Record<string, string>, auth?: boolean }} [opts]
   * @returns {Promise<Exchange>}
   */
  async request(method, path, { body, headers = {}, auth = true } = {}) {
    const h = { accept: 'application/json', ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    if (auth && this.token) h.authorization = `Bearer ${this.token}`;
    const t0 = performance.now();
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text();
      const ms = performance.now() - t0;
      let parsed;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return {
        method,
        path,
        status: res.status,
        ok: res.ok,
        ms,
        headers: res.headers,
        body: parsed,
        text,
        requestId: res.headers.get('x-request-id') ?? undefined,
      };
    } catch (err) {
      const ms = performance.now() - t0;
      return { method, path, status: 0, ok: false, ms, headers: undefined, body: undefined, text: '', error: describeError(err) };
    }
  }
}

/** A network error in a few words: the socket-level code when there is one. */
export function describeError(err) {
  if (err?.name === 'TimeoutError') return 'timeout';
  const cause = err?.cause;
  return cause?.code ?? cause?.message ?? err?.message ?? String(err);
}

/** One line about an exchange, for error messages. */
export function summarize(x) {
  if (x.status === 0) return `${x.method} ${x.path} -> no answer (${x.error})`;
  const body = x.text.length > 300 ? `${x.text.slice(0, 300)}...` : x.text;
  return `${x.method} ${x.path} -> ${x.status} ${body}${x.requestId ? ` (x-request-id ${x.requestId})` : ''}`;
}

/**
 * Fails with a Deviation unless the exchange has the expected status.
 * @param {Exchange} x @param {number} status @param {string} what
 */
export function expectStatus(x, status, what) {
  if (x.status === status) return x;
  let hint = '';
  if (x.status === 429) {
    const retry = x.headers?.get('retry-after');
    hint = `\n  rate limited${retry ? ` (Retry-After ${retry} s)` : ''}: wait, or raise RATE_LIMIT_AUTH_PER_MINUTE / RATE_LIMIT_API_PER_MINUTE on the gateway`;
  }
  throw new Deviation(`${what}: expected ${status}, got ${summarize(x)}${hint}`);
}

/**
 * Registers a new account and logs in; returns a client that sends its access token.
 * @param {string} baseUrl
 * @param {{ prefix?: string, timeoutMs?: number }} [opts]
 */
export async function createSession(baseUrl, { prefix = 'load', timeoutMs } = {}) {
  const api = new ApiClient(baseUrl, { timeoutMs });
  const email = uniqueEmail(prefix);
  const password = randomPassword();
  expectStatus(await api.request('POST', '/auth/register', { body: { email, password } }), 201, 'register');
  const login = expectStatus(await api.request('POST', '/auth/login', { body: { email, password } }), 200, 'log in');
  const token = login.body?.accessToken;
  if (typeof token !== 'string' || token.length === 0) throw new Deviation(`log in: no accessToken in ${summarize(login)}`);
  return { api: new ApiClient(baseUrl, { timeoutMs, token }), email, password, login: login.body };
}

/**
 * Polls `check` until it returns a truthy value or the time is up.
 * @template T
 * @param {() => Promise<T>} check @param {{ timeoutMs: number, intervalMs?: number }} opts
 * @returns {Promise<T | undefined>}
 */
export async function poll(check, { timeoutMs, intervalMs = 500 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

// ---------------------------------------------------------------------------------------------
// Load generation.

/**
 * What to send: the request for a worker's next iteration.
 * @typedef {(ctx: { worker: number, iteration: number }) => { method: string, path: string, body?: unknown }} Scenario
 */

/**
 * Builds a named scenario against a session.
 * - `tasks`: four reads of the first page of tasks for every create (the platform's common mix)
 * - `read`: the first page of tasks only
 * - `health`: the gateway's liveness route, no token (for the network path alone)
 * @param {string} name
 * @returns {{ scenario: Scenario, needsSession: boolean }}
 */
export function scenarioByName(name) {
  switch (name) {
    case 'tasks':
      return {
        needsSession: true,
        scenario: ({ worker, iteration }) =>
          iteration % 5 === 4
            ? { method: 'POST', path: '/tasks', body: { title: `load w${worker} i${iteration}`, tags: ['load'] } }
            : { method: 'GET', path: '/tasks?limit=20' },
      };
    case 'read':
      return { needsSession: true, scenario: () => ({ method: 'GET', path: '/tasks?limit=20' }) };
    case 'health':
      return { needsSession: false, scenario: () => ({ method: 'GET', path: '/health/live' }) };
    default:
      throw new UsageError(`unknown scenario ${JSON.stringify(name)}: use tasks, read or health`);
  }
}

/** Percentile of a sorted array (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Running totals of a load run.
 */
export class LoadStats {
  constructor() {
    this.started = performance.now();
    this.total = 0;
    this.ok = 0;
    /** @type {Map<string, number>} status code or network error → count */
    this.failuresByKind = new Map();
    /** @type {Array<{ atMs: number, summary: string }>} the first failures, for the report */
    this.firstFailures = [];
    /** latencies in ms, capped so that a long run cannot exhaust memory */
    this.latencies = [];
    this.maxSamples = 2_000_000;
  }

  /** @param {Exchange} x */
  record(x) {
    this.total += 1;
    if (this.latencies.length < this.maxSamples) this.latencies.push(x.ms);
    if (x.ok) {
      this.ok += 1;
      return;
    }
    const kind = x.status === 0 ? `network:${x.error}` : String(x.status);
    this.failuresByKind.set(kind, (this.failuresByKind.get(kind) ?? 0) + 1);
    if (this.firstFailures.length < 20) {
      this.firstFailures.push({ atMs: performance.now() - this.started, summary: summarize(x) });
    }
  }

  get failed() {
    return this.total - this.ok;
  }

  /** @param {number} [now] */
  summary(now = performance.now()) {
    const sorted = Float64Array.from(this.latencies).sort();
    const seconds = (now - this.started) / 1000;
    return {
      seconds: round(seconds, 1),
      requests: this.total,
      ok: this.ok,
      failed: this.failed,
      rps: round(this.total / Math.max(seconds, 1e-9), 1),
      p50Ms: round(percentile(sorted, 50), 1),
      p90Ms: round(percentile(sorted, 90), 1),
      p99Ms: round(percentile(sorted, 99), 1),
      maxMs: round(sorted.length ? sorted[sorted.length - 1] : Number.NaN, 1),
      failuresByKind: Object.fromEntries([...this.failuresByKind].sort((a, b) => b[1] - a[1])),
    };
  }
}

const round = (n, digits) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

/** The human-readable block printed at the end of a run. */
export function formatSummary(s) {
  const lines = [
    `  duration   ${s.seconds} s`,
    `  requests   ${s.requests} (${s.ok} 2xx, ${s.failed} failed)`,
    `  rate       ${s.rps} req/s`,
    `  latency    p50 ${s.p50Ms} ms   p90 ${s.p90Ms} ms   p99 ${s.p99Ms} ms   max ${s.maxMs} ms`,
  ];
  const kinds = Object.entries(s.failuresByKind);
  if (kinds.length > 0) lines.push(`  failures   ${kinds.map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  if (s.failuresByKind['429']) {
    lines.push('  hint       429 is the gateway rate limit: raise RATE_LIMIT_API_PER_MINUTE or lower --rps');
  }
  return lines.join('\n');
}

/**
 * Sends requests from `concurrency` workers until `signal` aborts or `durationMs` passes, at
 * most `rps` a second overall when given (evenly spaced, so a steady load has no bursts).
 * @param {{ client: ApiClient, scenario: Scenario, concurrency: number, durationMs: number,
 *   rps?: number, stats?: LoadStats, signal?: AbortSignal }} opts
 * @returns {Promise<LoadStats>}
 */
export async function generateLoad({ client, scenario, concurrency, durationMs, rps = 0, stats = new LoadStats(), signal }) {
  const deadline = performance.now() + durationMs;
  const interval = rps > 0 ? 1000 / rps : 0;
  let nextSlot = performance.now();
  const stopped = () => signal?.aborted || performance.now() >= deadline;

  async function worker(id) {
    for (let iteration = 0; !stopped(); iteration += 1) {
      if (interval > 0) {
        const slot = nextSlot;
        nextSlot = Math.max(nextSlot + interval, performance.now() - 1000);
        const wait = slot - performance.now();
        if (wait > 0) await sleep(Math.min(wait, deadline - performance.now()), signal);
        if (stopped()) break;
      }
      const { method, path, body } = scenario({ worker: id, iteration });
      stats.record(await client.request(method, path, { body }));
    }
  }

  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  return stats;
}
