// The cache moved to @taskmesh/access-token, where the services use it too.
export { TokenCache, type TokenCacheOptions } from '@taskmesh/access-token';
