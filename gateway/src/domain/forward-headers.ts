import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the
 * gateway sets itself. undici refuses several of them outright, and passing a client's own
 * `x-forwarded-for` on would let it choose the address the services see.
 */
const REQUEST_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'http2-settings',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-request-id',
  'traceparent',
]);

/** Connection-scoped answer headers, and those the gateway's own reply already carries. */
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'x-request-id',
]);

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

// Random bytes are drawn in blocks: one call into the CSPRNG per 256 new traces, not one each.
const ID_BYTES = 24;
let entropy = Buffer.alloc(0);
let used = 0;

/** The caller's W3C `traceparent` when well formed, else the start of a new trace. */
export function traceparentOf(given: string | string[] | undefined): string {
  if (typeof given === 'string' && TRACEPARENT.test(given)) return given;
  if (used + ID_BYTES > entropy.length) {
    entropy = randomBytes(ID_BYTES * 256);
    used = 0;
  }
  const ids = entropy.toString('hex', used, used + ID_BYTES);
  used += ID_BYTES;
  return `00-${ids.slice(0, 32)}-${ids.slice(32)}-01`;
}

export interface ForwardContext {
  readonly requestId: string;
  /** The client address as the gateway decided it (X-Forwarded-For only from trusted proxies). */
  readonly clientIp: string;
  readonly protocol: string;
}

/**
 * The headers sent upstream: the client's end-to-end headers, the original `Authorization`
 * (services verify the token again), the request id, the trace context and the client address.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = incoming.connection;
  const listed =
    connection && connection !== 'keep-alive' && connection !== 'close'
      ? new Set(
          connection
            .toLowerCase()
            .split(',')
            .map((s) => s.trim()),
        )
      : undefined;
  for (const name in incoming) {
    if (REQUEST_DROP.has(name) || listed?.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  out['x-request-id'] = ctx.requestId;
  out.traceparent = traceparentOf(incoming.traceparent);
  out['x-forwarded-for'] = ctx.clientIp;
  out['x-forwarded-proto'] = ctx.protocol;
  if (incoming.host !== undefined) out['x-forwarded-host'] = incoming.host;
  return out;
}

/** The upstream answer's headers that go back to the client (the length is recomputed). */
export function clientResponseHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (RESPONSE_DROP.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
