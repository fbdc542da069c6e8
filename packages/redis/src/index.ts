export { CacheAside, type CacheAsideOptions, type CacheLog } from './cache.js';
export { createRedis, pingRedis, type RedisSettings } from './client.js';
export { cachePlugin, redisPlugin, type CachePluginOptions } from './plugin.js';
