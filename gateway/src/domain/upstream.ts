import type { IncomingHttpHeaders } from 'node:http';
import CircuitBreaker from 'opossum';
import { Pool, type Dispatcher } from 'undici';
import { BatchingPool, type Connection } from './batching-pool.js';
import { errors } from '../errors.js';

/** The three services behind the gateway. */
export type UpstreamName = 'auth' | 'task' | 'analytics';

export interface BreakerSettings {
  /** Failure percentage (0–100) over the rolling window that opens the breaker. */
  readonly errorThresholdPercentage: number;
  /** Calls in the window before the percentage counts at all, so one early failure cannot open it. */
  readonly volumeThreshold: number;
  /** Time an open breaker waits before letting one trial call through. */
  readonly resetTimeoutMs: number;
  readonly rollingWindowMs: number;
}

export interface UpstreamOptions {
  readonly name: UpstreamName;
  /** e.g. `http://task:3002` */
  readonly origin: string;
  /** Bound on the wait for the answer's headers, and on each gap in its body. */
  readonly timeoutMs: number;
  /** Keep-alive sockets kept open to this upstream. */
  readonly connections: number;
  /**
   * Idempotent requests in flight on one socket (HTTP/1.1 pipelining); undici never pipelines
   * a POST or PATCH behind another request. @default 1
   */
  readonly pipelining?: number;
  /** Largest answer relayed; bigger ones fail with a 502. */
  readonly responseLimitBytes: number;
  readonly breaker: BreakerSettings;
  /** Called once per call that reached the upstream, with its status (or the gateway's 502/504). */
  readonly observe?: (statusCode: number, seconds: number) => void;
  /** Called when a request is sent again after its connection was closed or reset under it. */
  readonly onRetry?: () => void;
}

export interface ForwardRequest {
  readonly method: Dispatcher.HttpMethod;
  /** Path and query string, as the client sent them. */
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body?: Buffer | undefined;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export type BreakerState = 'closed' | 'half-open' | 'open';

/** A 5xx answer: relayed to the client as it is, but counted by the breaker as a failure. */
class UpstreamServerError extends Error {
  constructor(readonly response: UpstreamResponse) {
    super(`upstream answered ${response.statusCode}`);
  }
}

class ResponseTooLargeError extends Error {
  readonly code = 'GATEWAY_RESPONSE_TOO_LARGE';
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/**
 * The connection went away under the request: closed by the server (a keep-alive connection it
 * closed as the request arrived, or the rest of a pipeline behind its `Connection: close`
 * answer), reset, or refused. Never a timeout: a request that timed out may still be running.
 */
const CONNECTION_LOST_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT']);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * Whether sending the request twice has the effect of sending it once (RFC 9110 §9.2.2), or the
 * client made a POST so with an Idempotency-Key that the service deduplicates on.
 */
export function isIdempotent(req: Pick<ForwardRequest, 'method' | 'headers'>): boolean {
  if (IDEMPOTENT_METHODS.has(req.method)) return true;
  return req.method === 'POST' && req.headers['idempotency-key'] !== undefined;
}

function connectionLost(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code !== undefined && CONNECTION_LOST_CODES.has(code);
}
const EMPTY = Buffer.alloc(0);

/**
 * One upstream service: a keep-alive undici pool and an opossum breaker around it.
 *
 * Timeouts belong to undici (`headersTimeout`/`bodyTimeout`), not to the breaker: opossum's own
 * per-call timer costs a `setTimeout` per request, measured at about a fifth of the throughput,
 * so the breaker runs with `timeout: false` and sees undici's timeout as an ordinary failure.
 * Answers are read whole (they are small JSON documents, capped by `responseLimitBytes`) and
 * sent in one write, which is cheaper than piping a stream per request.
 */
export class Upstream {
  readonly name: UpstreamName;
  /** The relayed requests' connections. */
  readonly pool: BatchingPool;
  /** A few connections of their own for readiness probes and documents, so that they never wait behind relayed traffic. */
  readonly probes: Pool;
  readonly breaker: CircuitBreaker<[ForwardRequest], UpstreamResponse>;
  private readonly opts: UpstreamOptions;
  private readonly retryAfter: string;

  constructor(opts: UpstreamOptions) {
    this.opts = opts;
    this.name = opts.name;
    const connectTimeout = Math.min(opts.timeoutMs, 2000);
    this.pool = new BatchingPool(opts.origin, {
      connections: opts.connections,
      pipelining: opts.pipelining ?? 1,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout,
    });
    this.probes = new Pool(opts.origin, { connections: 4, connectTimeout });
    this.breaker = new CircuitBreaker((req: ForwardRequest) => this.call(req), {
      name: opts.name,
      timeout: false,
      errorThresholdPercentage: opts.breaker.errorThresholdPercentage,
      volumeThreshold: opts.breaker.volumeThreshold,
      resetTimeout: opts.breaker.resetTimeoutMs,
      rollingCountTimeout: opts.breaker.rollingWindowMs,
      rollingCountBuckets: 10,
      enableSnapshots: false,
    });
    this.retryAfter = String(Math.max(1, Math.ceil(opts.breaker.resetTimeoutMs / 1000)));
  }

  get state(): BreakerState {
    if (this.breaker.opened) return 'open';
    return this.breaker.halfOpen ? 'half-open' : 'closed';
  }

  /**
   * Sends one request through the breaker. Resolves with any answer the upstream gave (5xx
   * included); rejects with a gateway `AppError` when the breaker is open or the upstream could
   * not be reached or timed out.
   */
  forward(req: ForwardRequest): Promise<UpstreamResponse> {
    return this.breaker.fire(req).catch((err: unknown) => {
      if (err instanceof UpstreamServerError) return err.response;
      throw this.toAppError(err);
    });
  }

  /** A GET straight to the upstream, outside the breaker (readiness probes, OpenAPI documents). */
  async get(path: string, timeoutMs: number): Promise<{ statusCode: number; body: Buffer }> {
    const res = await this.probes.request({
      method: 'GET',
      path,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { statusCode: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
    await Promise.all([this.pool.close(), this.probes.close()]);
  }

  private toAppError(err: unknown): Error {
    const code = (err as { code?: string }).code;
    if (code === 'EOPENBREAKER')
      return errors.GATEWAY_ERR_CIRCUIT_OPEN(`the ${this.name} service is failing; calls to it are paused`, {
        'retry-after': this.retryAfter,
      });
    if (code && TIMEOUT_CODES.has(code)) return errors.GATEWAY_ERR_UPSTREAM_TIMEOUT(`the ${this.name} service did not answer in time`);
    if (err instanceof ResponseTooLargeError) return errors.GATEWAY_ERR_UPSTREAM_RESPONSE_TOO_LARGE();
    return errors.GATEWAY_ERR_UPSTREAM_UNREACHABLE(`the ${this.name} service could not be reached`);
  }

  /**
   * The breaker's action: one dispatch on the pool, the answer collected in memory. A request
   * whose connection was closed or reset under it (an upstream instance draining, a keep-alive
   * connection closed as the request went out) is sent once more on another connection when it
   * is idempotent, never otherwise: a non-idempotent request may have been carried out.
   */
  private call(req: ForwardRequest): Promise<UpstreamResponse> {
    const failed: { connection?: Connection } = {};
    const retriable = isIdempotent(req);
    return this.attempt(req, undefined, retriable ? failed : undefined).catch((err: unknown) => {
      if (!retriable || failed.connection === undefined || !connectionLost(err)) throw err;
      this.opts.onRetry?.();
      return this.attempt(req, failed.connection, undefined);
    });
  }

  /**
   * One dispatch. `avoid` is a connection that just failed; `failed`, when given, receives the
   * connection of an attempt that lost it, which then is not observed (the retry will be).
   */
  private attempt(req: ForwardRequest, avoid: Connection | undefined, failed: { connection?: Connection } | undefined): Promise<UpstreamResponse> {
    const { observe, responseLimitBytes } = this.opts;
    const started = observe ? performance.now() : 0;
    // GET and HEAD may be pipelined behind each other; undici never pipelines other methods.
    const stackable = req.method === 'GET' || req.method === 'HEAD';
    const connection = this.pool.acquire(stackable, avoid);
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let statusCode = 0;
      let headers: IncomingHttpHeaders = {};
      let chunks: Buffer[] | undefined;
      let size = 0;
      connection.client.dispatch(
        // blocking: false lets undici write the next pipelined request before this one's answer.
        { method: req.method, path: req.path, headers: req.headers, body: req.body ?? null, blocking: !stackable },
        {
          // Also what tells undici this handler speaks the current (controller) API.
          onRequestStart() {
            connection.cork();
          },
          onResponseStart(_controller, code, responseHeaders) {
            statusCode = code;
            headers = responseHeaders;
          },
          onResponseData(controller, chunk) {
            size += chunk.length;
            if (size > responseLimitBytes) {
              controller.abort(new ResponseTooLargeError(`the answer exceeds ${responseLimitBytes} bytes`));
              return;
            }
            (chunks ??= []).push(chunk);
          },
          onResponseEnd() {
            connection.inFlight--;
            if (observe) observe(statusCode, (performance.now() - started) / 1000);
            const body = chunks === undefined ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
            const response: UpstreamResponse = { statusCode, headers, body };
            if (statusCode >= 500) reject(new UpstreamServerError(response));
            else resolve(response);
          },
          onResponseError(_controller, err) {
            connection.inFlight--;
            if (failed !== undefined && statusCode === 0 && connectionLost(err)) {
              failed.connection = connection;
              reject(err);
              return;
            }
            if (observe) {
              const code = (err as { code?: string }).code;
              observe(code && TIMEOUT_CODES.has(code) ? 504 : 502, (performance.now() - started) / 1000);
            }
            reject(err);
          },
        },
      );
    });
  }
}
