export * from './contracts.js';
export { envelope, EnvelopeSchema, type Envelope } from './envelope.js';
export { decodeEvent, validateEvent, type ValidationResult } from './validate.js';
export { EVENT_EXAMPLES } from './examples.js';
