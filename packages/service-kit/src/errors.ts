/**
 * An error the client caused or may act on: a stable machine-readable code and an HTTP status.
 * Every service keeps one catalogue of these (`src/errors.ts`), built with {@link defineErrors}.
 */
export class AppError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly headers: Record<string, string> | undefined;

  constructor(code: string, statusCode: number, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

type Catalogue = Record<string, readonly [status: number, message: string]>;
export type ErrorFactory = (message?: string, headers?: Record<string, string>) => AppError;

/**
 * Turns `{ TASK_ERR_NOT_FOUND: [404, 'task not found'] }` into factories with the same keys,
 * so that codes live in one place and every throw site reads `throw errors.TASK_ERR_NOT_FOUND()`.
 */
export function defineErrors<C extends Catalogue>(catalogue: C): { [K in keyof C]: ErrorFactory } {
  const out = {} as { [K in keyof C]: ErrorFactory };
  for (const code of Object.keys(catalogue) as (keyof C & string)[]) {
    const [status, message] = catalogue[code]!;
    out[code] = (override, headers) => new AppError(code, status, override ?? message, headers);
  }
  return out;
}

/**
 * Errors every service answers the same way, raised by the shared plugins. Token failures have
 * their own catalogue in `@taskmesh/access-token`, rate limits theirs in the gateway.
 */
export const commonErrors = defineErrors({
  ERR_VALIDATION: [400, 'the request is invalid'],
  ERR_MALFORMED_JSON: [400, 'the body is not valid JSON'],
  ERR_FORBIDDEN_KEY: [400, 'the body contains a forbidden key such as __proto__ or constructor'],
  ERR_NOT_FOUND: [404, 'no such route'],
  ERR_METHOD_NOT_ALLOWED: [405, 'the path does not serve this method; see Allow'],
  ERR_PAYLOAD_TOO_LARGE: [413, 'the body is larger than allowed'],
  ERR_UNSUPPORTED_MEDIA_TYPE: [415, 'the body must be application/json'],
  ERR_INTERNAL: [500, 'internal error'],
  ERR_UNAVAILABLE: [503, 'temporarily unavailable'],
});
