import type { UpstreamName } from '../domain/upstream.js';

/**
 * Who may call a route: anyone, any holder of a valid access token, or an admin. The gateway
 * checks this before a request leaves it; the services check the token again themselves.
 */
export type Access = 'public' | 'user' | 'admin';

/**
 * The rate-limit bucket a route counts against.
 * - `login`, `register`: per client IP, strict, refused (503) while Redis is unreachable;
 * - `anonymous`: per client IP at the general rate, for the other public routes;
 * - `user`: per user id at the general rate, shared by every authenticated route.
 */
export type Bucket = 'login' | 'register' | 'anonymous' | 'user';

export interface PublicRoute {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Fastify route template; the same path is requested upstream. */
  readonly url: string;
  readonly upstream: UpstreamName;
  readonly access: Access;
  readonly bucket: Bucket;
  readonly summary: string;
}

const route = (
  method: PublicRoute['method'],
  url: string,
  upstream: UpstreamName,
  access: Access,
  summary: string,
  bucket?: Bucket,
): PublicRoute => ({
  method,
  url,
  upstream,
  access,
  summary,
  bucket: bucket ?? (access === 'public' ? 'anonymous' : 'user'),
});

/**
 * Every route the gateway relays. This list is the whole public surface: any other path answers
 * 401 to a caller without a valid token and 404 to one with.
 */
export const PUBLIC_API: readonly PublicRoute[] = [
  route('POST', '/auth/register', 'auth', 'public', 'Create an account', 'register'),
  route('POST', '/auth/login', 'auth', 'public', 'Exchange credentials for a token pair', 'login'),
  route('POST', '/auth/refresh', 'auth', 'public', 'Exchange a refresh token for a new pair'),
  route('POST', '/auth/logout', 'auth', 'user', "Revoke the session's refresh tokens"),
  route('GET', '/auth/me', 'auth', 'user', 'The calling user'),
  route('GET', '/.well-known/jwks.json', 'auth', 'public', 'Public keys that verify access tokens'),
  route('GET', '/tasks', 'task', 'user', "List the caller's tasks"),
  route('POST', '/tasks', 'task', 'user', 'Create a task'),
  route('GET', '/tasks/:id', 'task', 'user', 'Read one task'),
  route('PATCH', '/tasks/:id', 'task', 'user', 'Change a task'),
  route('DELETE', '/tasks/:id', 'task', 'user', 'Delete a task'),
  route('GET', '/analytics/me', 'analytics', 'user', "The caller's statistics"),
  route('GET', '/analytics/overview', 'analytics', 'admin', 'Statistics across all users'),
];
