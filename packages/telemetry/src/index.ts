export { startTelemetry, exportRequested, localSampler, type Telemetry, type TelemetryOptions } from './sdk.js';
export { platformInstrumentations, isUntracedPath } from './instrumentations.js';
