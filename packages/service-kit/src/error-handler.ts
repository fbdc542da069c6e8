import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, commonErrors, type ErrorFactory } from './errors.js';
import { installMethodNotAllowed } from './method-not-allowed.js';

/** Fastify's own client-error codes, mapped to our stable codes. */
const FASTIFY_CODES: Record<string, () => AppError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => commonErrors.ERR_UNSUPPORTED_MEDIA_TYPE(),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => commonErrors.ERR_VALIDATION('the content-length does not match the body'),
  FST_ERR_CTP_BODY_TOO_LARGE: () => commonErrors.ERR_PAYLOAD_TOO_LARGE(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => commonErrors.ERR_MALFORMED_JSON('the body is empty but the content type is JSON'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => commonErrors.ERR_MALFORMED_JSON(),
  FST_ERR_CTP_EMPTY_TYPE: () => commonErrors.ERR_UNSUPPORTED_MEDIA_TYPE(),
};

/** Seconds a client is asked to wait when a dependency is unreachable. */
export const UNAVAILABLE_RETRY_AFTER = '2';

/** Tells whether an error means that a dependency did not answer (a store down or hung). */
export type UnavailableTest = (err: unknown) => boolean;

export interface ErrorMapping {
  /** Recognisers registered by the infrastructure plugins (the Mongo plugin registers the driver's). */
  readonly unavailable?: readonly UnavailableTest[];
  /** The answer for those errors. @default ERR_UNAVAILABLE */
  readonly unavailableError?: ErrorFactory;
}

/**
 * Our catalogue's errors as they are; Fastify's client errors (validation, content type, body) as
 * our codes; a dependency that did not answer as 503 with Retry-After; anything else, including a
 * `SyntaxError` or a `statusCode` thrown by our own code or a library, as a 500: a bug of ours is
 * never reported as the client's fault.
 */
export function toAppError(err: FastifyError | Error, mapping: ErrorMapping = {}): AppError {
  if (err instanceof AppError) return err;
  const fe = err as FastifyError & { validation?: unknown; validationContext?: string };
  if (fe.validation) {
    return commonErrors.ERR_VALIDATION(`${fe.validationContext ?? 'request'} ${stripContext(fe.message, fe.validationContext)}`);
  }
  if (fe.code && FASTIFY_CODES[fe.code]) return FASTIFY_CODES[fe.code]!();
  if (mapping.unavailable?.some((test) => test(err))) {
    return (mapping.unavailableError ?? commonErrors.ERR_UNAVAILABLE)(undefined, { 'retry-after': UNAVAILABLE_RETRY_AFTER });
  }
  // Fastify's and its plugins' own client errors (FST_ERR_*, 4xx): the request was at fault.
  const status = fe.statusCode ?? 500;
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_') && status >= 400 && status < 500) {
    return new AppError('ERR_BAD_REQUEST', status, fe.message);
  }
  return commonErrors.ERR_INTERNAL();
}

function stripContext(message: string, context?: string): string {
  return context && message.startsWith(`${context}/`) ? message.slice(context.length) : message;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Registers a test for errors that mean a dependency did not answer; the one error handler
     * answers them with the service's 503 and Retry-After, wherever they are thrown.
     */
    recogniseUnavailable(test: UnavailableTest): void;
  }
}

export interface ErrorHandlerOptions {
  /** The service's own answer for an unreachable dependency. @default ERR_UNAVAILABLE */
  readonly unavailableError?: ErrorFactory;
}

/**
 * One error handler: every answer is `{ code, message }`; a 5xx never carries its internals,
 * and is logged with the full error.
 */
export const errorHandlerPlugin = fp<ErrorHandlerOptions>(
  async (app: FastifyInstance, opts) => {
    const unavailable: UnavailableTest[] = [];
    const mapping: ErrorMapping = { unavailable, ...(opts.unavailableError ? { unavailableError: opts.unavailableError } : {}) };
    app.decorate('recogniseUnavailable', (test: UnavailableTest) => void unavailable.push(test));
    app.setErrorHandler((err, request, reply) => {
      const appErr = toAppError(err as FastifyError, mapping);
      if (appErr.statusCode === 503) {
        request.log.warn({ err }, 'a dependency is unavailable');
      } else if (appErr.statusCode >= 500) {
        request.log.error({ err }, 'request failed');
      } else {
        request.log.info({ code: appErr.code, status: appErr.statusCode }, appErr.message);
      }
      if (appErr.headers) void reply.headers(appErr.headers);
      return reply.code(appErr.statusCode).send({ code: appErr.code, message: appErr.message });
    });
    // A known path asked with a method it does not serve: 405 with Allow, not 404.
    installMethodNotAllowed(app);
    app.setNotFoundHandler((request, reply) => {
      const notFound = commonErrors.ERR_NOT_FOUND(`no route ${request.method} ${request.url.split('?')[0]}`);
      return reply.code(notFound.statusCode).send({ code: notFound.code, message: notFound.message });
    });
  },
  { name: '@taskmesh/error-handler' },
);
