import type { Redis } from 'ioredis';

/**
 * For each key: INCR, set the window's expiry when the count starts (or when an earlier expiry
 * was lost), and answer the count and the time left. One call handles a whole batch; the keys
 * are counted one after another inside Redis, so two requests on one key in the same batch
 * still get distinct counts and the limit stays exact.
 */
const SCRIPT = `
local out = {}
for i = 1, #KEYS do
  local window = tonumber(ARGV[i])
  local current = redis.call('INCR', KEYS[i])
  local ttl
  if current == 1 then
    redis.call('PEXPIRE', KEYS[i], window)
    ttl = window
  else
    ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], window)
      ttl = window
    end
  end
  out[2 * i - 1] = current
  out[2 * i] = ttl
end
return out
`;

export interface Count {
  /** Requests counted in the current window, this one included. */
  readonly current: number;
  /** Milliseconds until the window ends. */
  readonly ttl: number;
}

type Callback = (err: Error | null, count?: Count) => void;

declare module 'ioredis' {
  interface RedisCommander {
    gatewayCountBatch(numKeys: number, ...keysThenWindows: (string | number)[]): Promise<number[]>;
  }
}

/**
 * Fixed-window counters in Redis, shared by every gateway replica, sent in batches: the
 * increments asked for during one turn of the event loop leave as a single script call.
 * A round trip per request would cost each request a command encode, a socket write and a reply
 * parse; batched, a busy gateway pays that once per turn however many requests the turn carried.
 * Multi-key scripts need every key on one node, so this is for a standalone Redis (or keys that
 * share a hash tag on a cluster).
 */
export class BatchedCounter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly maxBatch: number;
  private keys: string[] = [];
  private windows: number[] = [];
  private callbacks: Callback[] = [];
  private scheduled = false;

  /**
   * @param prefix put before every key.
   * @param maxBatch most keys in one script call; a larger turn is split. @default 256
   */
  constructor(redis: Redis, prefix: string, maxBatch = 256) {
    this.redis = redis;
    this.prefix = prefix;
    this.maxBatch = maxBatch;
    if (typeof (redis as Partial<Redis>).gatewayCountBatch !== 'function') redis.defineCommand('gatewayCountBatch', { lua: SCRIPT });
  }

  /** Counts one request against `key`; the callback runs once the batch is answered. */
  incr(key: string, windowMs: number, cb: Callback): void {
    this.keys.push(this.prefix + key);
    this.windows.push(windowMs);
    this.callbacks.push(cb);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not nextTick: it runs after every socket that was readable in this turn
      // has been handled, which is what lets the turn's requests share one call.
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const { keys, windows, callbacks } = this;
    this.keys = [];
    this.windows = [];
    this.callbacks = [];
    for (let start = 0; start < keys.length; start += this.maxBatch) {
      const end = Math.min(start + this.maxBatch, keys.length);
      this.send(keys.slice(start, end), windows.slice(start, end), callbacks.slice(start, end));
    }
  };

  private send(keys: string[], windows: number[], callbacks: Callback[]): void {
    this.redis.gatewayCountBatch(keys.length, ...keys, ...windows).then(
      (reply) => {
        for (let i = 0; i < callbacks.length; i++) callbacks[i]!(null, { current: reply[2 * i]!, ttl: reply[2 * i + 1]! });
      },
      (err: Error) => {
        for (const cb of callbacks) cb(err);
      },
    );
  }
}
