import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';

export interface CacheLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface CacheAsideOptions {
  /** The `cache` label of the metrics and the logs, e.g. `profile`. */
  readonly name: string;
  /** Put before every key, e.g. `auth:profile:`; the database name keeps services and test runs apart. */
  readonly keyPrefix: string;
  /** How long a value is served at most, and so how stale it can be when an invalidation is lost. */
  readonly ttlSeconds: number;
  readonly registry: Registry;
  readonly log: CacheLog;
  /** After a failed command, reads go straight to the store for this long. @default 1000 */
  readonly backoffMs?: number;
}

type ReadOutcome = 'hit' | 'miss' | 'unavailable';

/**
 * Fills a value only if the key's generation is still the one read before the store was: an
 * invalidation between the store read and the fill changed it, and the older value is dropped.
 * (Stored anyway, it would never be a hit, since a read compares the value's generation with the
 * key's; the check saves writing it.)
 */
const FILL = `
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1`;

interface CacheCommands {
  cacheFill(valueKey: string, generationKey: string, generation: string, value: string, ttlMs: number): Promise<number>;
}

/**
 * Cache-aside over Redis: read Redis first, on a miss read the store and fill with a TTL; a write
 * to the store invalidates. Redis is never needed for an answer: a failed or slow command (bounded
 * by the client's command timeout) falls back to the store, is counted, and is logged once per
 * outage; for `backoffMs` after it, reads skip Redis, so a hanging Redis costs one timeout a
 * second, not one a request.
 *
 * Staleness. Each key has a generation, a random token that every invalidation replaces; a value
 * is stored with the generation it was read under and is a hit only while that is still the
 * key's. A reader that missed, read the store before a write and fills after the write's
 * invalidation therefore fills nothing (the classic fill-after-invalidate race), and the first read
 * after an invalidation is always fresh. The one way to serve a stale value is an invalidation that
 * does not reach Redis (Redis unreachable or slow at that moment, or the process dying between its
 * store write and the invalidation): then the value lasts until its TTL, so a reader is at most
 * `ttlSeconds` behind.
 */
export class CacheAside<T> {
  private readonly redis: Redis & CacheCommands;
  private readonly ttlMs: number;
  private readonly backoffMs: number;
  private readonly reads: Counter<'cache' | 'outcome'>;
  private readonly failures: Counter<'cache' | 'op'>;
  private skipUntil = 0;
  private down = false;

  constructor(
    redis: Redis,
    private readonly opts: CacheAsideOptions,
  ) {
    if (!('cacheFill' in redis)) redis.defineCommand('cacheFill', { numberOfKeys: 2, lua: FILL });
    this.redis = redis as Redis & CacheCommands;
    this.ttlMs = opts.ttlSeconds * 1000;
    this.backoffMs = opts.backoffMs ?? 1000;
    this.reads = cacheCounter(
      opts.registry,
      'cache_reads_total',
      'Cache-aside reads by outcome (hit, miss, unavailable: Redis failed or was skipped, the store answered)',
      'outcome',
    );
    this.failures = cacheCounter(
      opts.registry,
      'cache_errors_total',
      'Redis commands of a cache that failed or timed out, by operation (read, fill, invalidate)',
      'op',
    );
  }

  /**
   * The value for `id`: from Redis when it holds a current one, else from `load` (the store),
   * which then fills Redis. `undefined` or `null` from `load` is returned and not cached.
   */
  async read(id: string, load: () => Promise<T | null | undefined>): Promise<T | null | undefined> {
    if (this.redis.status !== 'ready' || Date.now() < this.skipUntil) {
      if (this.redis.status !== 'ready') this.unavailable(new Error(`redis is ${this.redis.status}`));
      this.count('unavailable');
      return load();
    }
    const [valueKey, generationKey] = this.keys(id);
    let generation: string;
    try {
      const [cached, current] = await this.redis.mget(valueKey, generationKey);
      generation = current ?? '';
      this.available();
      if (cached) {
        const at = cached.indexOf('|');
        if (cached.slice(0, at) === generation) {
          this.count('hit');
          return JSON.parse(cached.slice(at + 1)) as T;
        }
      }
    } catch (err) {
      this.failed(err, 'read');
      this.count('unavailable');
      return load();
    }
    this.count('miss');
    const value = await load();
    if (value !== null && value !== undefined) {
      try {
        await this.redis.cacheFill(valueKey, generationKey, generation, JSON.stringify(value), this.ttlMs);
      } catch (err) {
        this.failed(err, 'fill');
      }
    }
    return value;
  }

  /**
   * Makes the next read of each id go to the store; call it after the store write. Never throws: a
   * failure is counted and logged, and leaves the value to expire by its TTL.
   */
  async invalidate(ids: Iterable<string>): Promise<void> {
    const batch = this.redis.pipeline();
    let n = 0;
    for (const id of ids) {
      const [valueKey, generationKey] = this.keys(id);
      // The generation outlives every value filled under the one it replaces (a TTL at most).
      batch.set(generationKey, randomBytes(9).toString('base64url'), 'PX', 2 * this.ttlMs).del(valueKey);
      n++;
    }
    if (n === 0) return;
    try {
      const results = (await batch.exec()) ?? [];
      const err = results.find(([e]) => e)?.[0];
      if (err) throw err;
      this.available();
    } catch (err) {
      this.failed(err, 'invalidate');
    }
  }

  /** Both keys share the hash tag, so a cluster would keep them on one slot as the fill script needs. */
  private keys(id: string): [string, string] {
    const base = `${this.opts.keyPrefix}{${id}}`;
    return [base, `${base}:gen`];
  }

  private count(outcome: ReadOutcome): void {
    this.reads.inc({ cache: this.opts.name, outcome });
  }

  private failed(err: unknown, op: 'read' | 'fill' | 'invalidate'): void {
    this.failures.inc({ cache: this.opts.name, op });
    this.unavailable(err);
  }

  private unavailable(err: unknown): void {
    this.skipUntil = Date.now() + this.backoffMs;
    if (this.down) return;
    this.down = true;
    this.opts.log.warn({ err, cache: this.opts.name }, 'cache unavailable: reading the store until Redis answers again');
  }

  private available(): void {
    if (!this.down) return;
    this.down = false;
    this.opts.log.info({ cache: this.opts.name }, 'cache available again');
  }
}

/** One series per registry, shared by the caches of a process. */
function cacheCounter<L extends string>(registry: Registry, name: string, help: string, label: L): Counter<'cache' | L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'cache' | L>;
  return new Counter({ name, help, labelNames: ['cache', label], registers: [registry] });
}
