import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { commonErrors } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The methods served at a concrete path (`/tasks/abc`), in a stable order; empty when no
     * route matches the path with any method.
     */
    allowedMethods(path: string): readonly string[];
  }
}

const noop = () => {};

/**
 * Records every route added to `app` (and to every plugin registered after this call) in a
 * router of its own, so that a request that matched no route can be told apart: a path that
 * exists with other methods answers 405 Method Not Allowed with `Allow` (RFC 9110 §15.5.6), one
 * that does not exist at all goes on to the not-found handler (404). The 405 is sent from the
 * first onRequest hook, before any body is read: Fastify would otherwise parse the body of a
 * QUERY or a POST to the not-found route and answer 400 or 415 first. Catch-all routes (`*`,
 * e.g. a CORS preflight for every path) are left out: they would make every path look known.
 */
export function installMethodNotAllowed(app: FastifyInstance): void {
  const router = FindMyWay({ ignoreTrailingSlash: false, ignoreDuplicateSlashes: false });
  const methods = new Set<string>();

  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url.endsWith('/*')) return;
    const list = (Array.isArray(route.method) ? route.method : [route.method]) as string[];
    for (const method of list) {
      if (router.hasRoute(method as HTTPMethod, route.url)) continue;
      router.on(method as HTTPMethod, route.url, noop);
      methods.add(method);
    }
  });

  app.decorate('allowedMethods', (path: string): readonly string[] => {
    const allowed: string[] = [];
    for (const method of methods) {
      if (router.find(method as HTTPMethod, path) !== null) allowed.push(method);
    }
    return allowed.sort();
  });

  app.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = request.url.split('?')[0]!;
    const allowed = app.allowedMethods(path);
    if (allowed.length === 0) return done();
    const answer = commonErrors.ERR_METHOD_NOT_ALLOWED(`${request.method} is not served at ${path}; ${allowed.join(', ')} are`);
    void reply.code(answer.statusCode).header('allow', allowed.join(', ')).send({ code: answer.code, message: answer.message });
  });
}
