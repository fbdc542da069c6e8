export { AppError, commonErrors, defineErrors, type ErrorFactory } from './errors.js';
export {
  UNAVAILABLE_RETRY_AFTER,
  errorHandlerPlugin,
  toAppError,
  type ErrorHandlerOptions,
  type ErrorMapping,
  type UnavailableTest,
} from './error-handler.js';
export { healthPlugin, type HealthOptions, type Readiness, type ReadinessCheck } from './health.js';
export { metricsPlugin, type MetricsOptions } from './metrics.js';
export { REQUEST_ID_HEADER, genRequestId } from './request-id.js';
export { runService, type ServiceRunner } from './run.js';
export { createServiceApp, type ServiceAppOptions } from './service-app.js';
export {
  BEFORE_EXIT,
  installGracefulShutdown,
  retryWithBackoff,
  startupLogger,
  type BackoffLogger,
  type ShutdownOptions,
  type WaitForOptions,
} from './shutdown.js';
export { CLOSED, installStrictValidation } from './validation.js';
export {
  ConfigError,
  LogLevelSchema,
  kafkaConfig,
  loadConfig,
  mongoConfig,
  redisCacheConfig,
  serverConfig,
  tokenVerifierConfig,
} from './config.js';
export { traceLogFields, SERVICE_NAME } from './trace-context.js';
export {
  BEARER_SCHEME,
  OPENAPI_VERSION,
  REQUEST_ERROR_CODES,
  RETRY_AFTER,
  badRequestResponse,
  bearerSecurity,
  bearerSecurityScheme,
  bodyErrorResponses,
  codesWithStatus,
  errorResponse,
  openApiPlugin,
  type HeaderSchema,
  type OpenApiOptions,
  type ResponseSchemas,
} from './openapi.js';
