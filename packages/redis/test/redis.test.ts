import { describe, expect, inject, it } from 'vitest';
import { freePort, startRedis, stopInstance } from '../../../scripts/infra-lib.mjs';
import { createRedis, pingRedis } from '../src/index.js';

describe('redis client', () => {
  it('when the shared server runs, then PING answers and a value round-trips', async () => {
    const redis = createRedis({ url: inject('infra').redisUrl });
    try {
      await pingRedis(redis);
      const key = `test:${crypto.randomUUID()}`;
      await redis.set(key, 'v', 'EX', 10);
      expect(await redis.get(key)).toBe('v');
    } finally {
      redis.disconnect();
    }
  });

  it('when its server is stopped, then PING fails within the command timeout, and works again once it is back', async () => {
    const port = await freePort();
    const server = await startRedis({ port });
    const redis = createRedis({ url: server.url, commandTimeoutMs: 200, connectTimeoutMs: 300 });
    try {
      await pingRedis(redis);
      await stopInstance(server);
      const t0 = performance.now();
      await expect(pingRedis(redis)).rejects.toThrow();
      expect(performance.now() - t0).toBeLessThan(2000);

      await startRedis({ port });
      await expect.poll(() => pingRedis(redis).then(() => true, () => false), { timeout: 10_000, interval: 200 }).toBe(true);
    } finally {
      redis.disconnect();
      await stopInstance(server);
    }
  });
});
