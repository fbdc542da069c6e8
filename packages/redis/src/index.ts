export { createRedis, pingRedis, type RedisSettings } from './client.js';
export { redisPlugin } from './plugin.js';
