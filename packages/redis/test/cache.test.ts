import { Registry } from 'prom-client';
import { describe, expect, inject, it } from 'vitest';
import { freePort, startRedis, stopInstance } from '../../../scripts/infra-lib.mjs';
import { CacheAside, createRedis } from '../src/index.js';

type Profile = { name: string };

function recordingLog() {
  const lines: { level: string; msg: string }[] = [];
  return {
    lines,
    warn: (_obj: object, msg: string) => lines.push({ level: 'warn', msg }),
    info: (_obj: object, msg: string) => lines.push({ level: 'info', msg }),
  };
}

async function counted(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A store stand-in that counts its reads and can be changed behind the cache's back. */
function store(initial: Profile) {
  const s = { value: initial, reads: 0, load: async (): Promise<Profile> => (s.reads++, { ...s.value }) };
  return s;
}

describe('cache-aside', () => {
  const open = async (url = inject('infra').redisUrl, commandTimeoutMs = 250) => {
    const redis = createRedis({ url, commandTimeoutMs, connectTimeoutMs: 300 });
    redis.on('error', () => undefined); // the outage tests cause these on purpose
    await redis.connect();
    const registry = new Registry();
    const log = recordingLog();
    const keyPrefix = `test:${crypto.randomUUID()}:`;
    const cache = new CacheAside<Profile>(redis, { name: 'test', keyPrefix, ttlSeconds: 30, registry, log });
    return { redis, registry, log, cache, keyPrefix };
  };

  it('when a value was read once, then the next read is served from Redis without the store, until an invalidation makes it read the store again', async () => {
    const { redis, registry, cache } = await open();
    try {
      const s = store({ name: 'first' });
      expect(await cache.read('u1', s.load)).toEqual({ name: 'first' });
      s.value = { name: 'changed behind its back' };
      expect(await cache.read('u1', s.load)).toEqual({ name: 'first' });
      expect(s.reads).toBe(1);
      expect(await counted(registry, 'cache_reads_total', { outcome: 'hit' })).toBe(1);
      expect(await counted(registry, 'cache_reads_total', { outcome: 'miss' })).toBe(1);

      await cache.invalidate(['u1']);
      expect(await cache.read('u1', s.load)).toEqual({ name: 'changed behind its back' });
      expect(await cache.read('u1', s.load)).toEqual({ name: 'changed behind its back' });
      expect(s.reads).toBe(2);
    } finally {
      redis.disconnect();
    }
  });

  it('when a write and its invalidation land between a miss reading the store and its fill, then the older value is not cached (the next read is fresh)', async () => {
    const { redis, cache, keyPrefix } = await open();
    try {
      const s = store({ name: 'before the write' });
      const racing = cache.read('u2', async () => {
        const seen = await s.load();
        s.value = { name: 'after the write' };
        await cache.invalidate(['u2']);
        return seen;
      });
      expect(await racing).toEqual({ name: 'before the write' });
      expect(await redis.exists(`${keyPrefix}{u2}`), 'the racing fill was not written').toBe(0);
      expect(await cache.read('u2', s.load)).toEqual({ name: 'after the write' });
    } finally {
      redis.disconnect();
    }
  });

  it('when nothing is found, then nothing is cached', async () => {
    const { redis, cache } = await open();
    try {
      let reads = 0;
      const none = async () => (reads++, null);
      expect(await cache.read('u3', none)).toBeNull();
      expect(await cache.read('u3', none)).toBeNull();
      expect(reads).toBe(2);
    } finally {
      redis.disconnect();
    }
  });

  it('when its Redis is stopped, then reads answer from the store at once, the outage is counted and logged once, and caching resumes once Redis is back', async () => {
    const port = await freePort();
    const server = await startRedis({ port });
    const { redis, registry, log, cache } = await open(server.url);
    try {
      const s = store({ name: 'cached' });
      await cache.read('u4', s.load);
      await stopInstance(server);
      s.value = { name: 'from the store' };

      const t0 = performance.now();
      for (let i = 0; i < 20; i++) expect(await cache.read('u4', s.load)).toEqual({ name: 'from the store' });
      await cache.invalidate(['u4']);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(await counted(registry, 'cache_reads_total', { outcome: 'unavailable' })).toBe(20);
      expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);

      await startRedis({ port });
      await expect
        .poll(
          async () => {
            await cache.read('u4', s.load);
            return counted(registry, 'cache_reads_total', { outcome: 'hit' });
          },
          { timeout: 15_000, interval: 300 },
        )
        .toBeGreaterThan(0);
      expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    } finally {
      redis.disconnect();
      await stopInstance(server);
    }
  });

  it('when its Redis hangs, then a read waits no longer than the command timeout, and the reads after it skip Redis', async () => {
    const port = await freePort();
    const server = await startRedis({ port });
    const { redis, cache } = await open(server.url, 100);
    try {
      const s = store({ name: 'v' });
      await cache.read('u5', s.load);
      // A stopped (not dead) server: connected, accepting nothing, answering nothing.
      process.kill(server.pid!, 'SIGSTOP');
      const t0 = performance.now();
      expect(await cache.read('u5', s.load)).toEqual({ name: 'v' });
      expect(performance.now() - t0).toBeLessThan(600);
      const t1 = performance.now();
      for (let i = 0; i < 10; i++) await cache.read('u5', s.load);
      expect(performance.now() - t1).toBeLessThan(100);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
      redis.disconnect();
      await stopInstance(server);
    }
  });
});
