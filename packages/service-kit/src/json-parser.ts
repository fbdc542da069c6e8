import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { commonErrors } from './errors.js';

/**
 * Every body is JSON: Fastify's text/plain parser is removed, so any other type is a 415. Fastify's
 * own JSON parser reports every failure as "not valid JSON"; this one tells a client that sent
 * `__proto__` or `constructor.prototype` keys (prototype poisoning) what was refused.
 */
export function installJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      done(commonErrors.ERR_MALFORMED_JSON('the body is empty but the content type is JSON'), undefined);
      return;
    }
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const poisoned = err instanceof SyntaxError && /prototype/i.test(err.message);
      done(poisoned ? commonErrors.ERR_FORBIDDEN_KEY() : commonErrors.ERR_MALFORMED_JSON(), undefined);
    }
  });
}
