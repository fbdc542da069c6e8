export { AppError, commonErrors, defineErrors, type ErrorFactory } from './errors.js';
export { errorHandlerPlugin, toAppError } from './error-handler.js';
export { healthPlugin, type HealthOptions, type Readiness, type ReadinessCheck } from './health.js';
export { metricsPlugin, type MetricsOptions } from './metrics.js';
export { REQUEST_ID_HEADER, genRequestId } from './request-id.js';
export { createServiceApp, type ServiceAppOptions } from './service-app.js';
export { installGracefulShutdown, type ShutdownOptions } from './shutdown.js';
export { installStrictValidation } from './validation.js';
export { loadConfig, ConfigError } from './config.js';
