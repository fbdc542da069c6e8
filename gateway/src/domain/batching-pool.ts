import type { Socket } from 'node:net';
import { Client, buildConnector, type Dispatcher } from 'undici';

export interface BatchingPoolOptions {
  /** Most keep-alive sockets to the origin. */
  readonly connections: number;
  /** Most GET/HEAD requests in flight on one socket (HTTP/1.1 pipelining); 1 turns it off. */
  readonly pipelining: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly connectTimeout: number;
}

/** One connection: its undici client, its socket once connected, and what the gateway has in flight on it. */
export class Connection {
  readonly client: Client;
  inFlight = 0;
  private socket: Socket | undefined;
  private corked = false;

  constructor(origin: string, opts: BatchingPoolOptions) {
    const connect = buildConnector({ timeout: opts.connectTimeout });
    this.client = new Client(origin, {
      pipelining: opts.pipelining,
      headersTimeout: opts.headersTimeout,
      bodyTimeout: opts.bodyTimeout,
      connect: (options, callback) =>
        connect(options, (err, socket) => {
          if (socket) this.socket = socket as Socket;
          (callback as (err: Error | null, socket: unknown) => void)(err, socket);
        }),
    });
  }

  /**
   * Holds the socket's writes until the current tick's work is done: undici writes each request
   * as it goes out, one system call each, and the requests pipelined in one tick then leave in
   * one write. Called by the request handler's `onRequestStart`, which undici runs just before
   * it writes the request.
   */
  cork(): void {
    const socket = this.socket;
    if (this.corked || socket === undefined || socket.destroyed) return;
    this.corked = true;
    socket.cork();
    process.nextTick(this.uncork, socket);
  }

  private readonly uncork = (socket: Socket): void => {
    this.corked = false;
    socket.uncork();
  };
}

/**
 * Keep-alive connections to one origin that send the requests released together (the rate
 * limiter answers a whole batch at once) pipelined on one socket, in one write, and read their
 * answers in as few reads; undici's own Pool spreads them over as many sockets, a write and a
 * read each. Only GET and HEAD are stacked, and only within one tick: a request that arrives on
 * its own goes to an idle connection, so pipelining (and the head-of-line wait it brings) only
 * happens under load. Non-idempotent requests always get a connection of their own when one is
 * idle (undici never pipelines them behind others).
 */
export class BatchingPool {
  private readonly origin: string;
  private readonly opts: BatchingPoolOptions;
  private readonly connections: Connection[] = [];
  private current: Connection | undefined;
  private next = 0;

  constructor(origin: string, opts: BatchingPoolOptions) {
    this.origin = origin;
    this.opts = opts;
  }

  /**
   * The connection for one request; the caller dispatches on `client` and decrements
   * `inFlight` when the request ends, however it ends. `avoid` (a connection that was just lost
   * under a request) is only chosen when it is the only one: its client then opens a new socket.
   */
  acquire(stackable: boolean, avoid?: Connection): Connection {
    const current = this.current;
    let chosen: Connection;
    if (stackable && current !== undefined && current !== avoid && current.inFlight < this.opts.pipelining) chosen = current;
    else {
      chosen = this.idle(avoid) ?? this.open() ?? this.leastBusy(avoid);
      if (stackable) {
        if (this.current === undefined) process.nextTick(this.endTick);
        this.current = chosen;
      }
    }
    chosen.inFlight++;
    return chosen;
  }

  async close(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.client.close()));
  }

  private readonly endTick = (): void => {
    this.current = undefined;
  };

  /** An idle connection, starting after the last one chosen so that sockets are used evenly. */
  private idle(avoid?: Connection): Connection | undefined {
    const n = this.connections.length;
    for (let i = 0; i < n; i++) {
      const c = this.connections[(this.next + i) % n]!;
      if (c.inFlight === 0 && c !== avoid) {
        this.next = (this.next + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  private open(): Connection | undefined {
    if (this.connections.length >= this.opts.connections) return undefined;
    const c = new Connection(this.origin, this.opts);
    this.connections.push(c);
    return c;
  }

  private leastBusy(avoid?: Connection): Connection {
    let best: Connection | undefined;
    for (const c of this.connections) if (c !== avoid && (best === undefined || c.inFlight < best.inFlight)) best = c;
    return best ?? this.connections[0]!;
  }
}

export type { Dispatcher };
