import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, commonErrors } from './errors.js';

/** Fastify's own client-error codes, mapped to our stable codes. */
const FASTIFY_CODES: Record<string, () => AppError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => commonErrors.ERR_UNSUPPORTED_MEDIA_TYPE(),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => commonErrors.ERR_VALIDATION('the content-length does not match the body'),
  FST_ERR_CTP_BODY_TOO_LARGE: () => commonErrors.ERR_PAYLOAD_TOO_LARGE(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => commonErrors.ERR_MALFORMED_JSON('the body is empty but the content type is JSON'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => commonErrors.ERR_MALFORMED_JSON(),
  FST_ERR_CTP_EMPTY_TYPE: () => commonErrors.ERR_UNSUPPORTED_MEDIA_TYPE(),
};

export function toAppError(err: FastifyError | Error): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError & { validation?: unknown; validationContext?: string };
  if (fe.validation) {
    return commonErrors.ERR_VALIDATION(`${fe.validationContext ?? 'request'} ${stripContext(fe.message, fe.validationContext)}`);
  }
  if (fe.code && FASTIFY_CODES[fe.code]) return FASTIFY_CODES[fe.code]!();
  // secure-json-parse raises a SyntaxError for __proto__ / constructor.prototype keys
  if (err instanceof SyntaxError && /prototype/i.test(err.message)) return commonErrors.ERR_FORBIDDEN_KEY();
  if (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return commonErrors.ERR_MALFORMED_JSON();
  const status = fe.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new AppError(fe.code && !fe.code.startsWith('FST_') ? fe.code : 'ERR_BAD_REQUEST', status, fe.message);
  }
  return commonErrors.ERR_INTERNAL();
}

function stripContext(message: string, context?: string): string {
  return context && message.startsWith(`${context}/`) ? message.slice(context.length) : message;
}

/**
 * One error handler: every answer is `{ code, message }`; a 5xx never carries its internals,
 * and is logged with the full error.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err, request, reply) => {
      const appErr = toAppError(err as FastifyError);
      if (appErr.statusCode >= 500) {
        request.log.error({ err }, 'request failed');
      } else {
        request.log.info({ code: appErr.code, status: appErr.statusCode }, appErr.message);
      }
      if (appErr.headers) void reply.headers(appErr.headers);
      return reply.code(appErr.statusCode).send({ code: appErr.code, message: appErr.message });
    });
    app.setNotFoundHandler((request, reply) => {
      return reply.code(404).send({ code: 'ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
    });
  },
  { name: '@taskmesh/error-handler' },
);
