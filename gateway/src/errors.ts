import { defineErrors } from '@taskmesh/service-kit';

/** What the gateway itself answers; everything else is the upstream's own answer, passed through. */
export const errors = defineErrors({
  GATEWAY_ERR_RATE_LIMITED: [429, 'too many requests'],
  GATEWAY_ERR_RATE_LIMIT_UNAVAILABLE: [503, 'this route is unavailable while the rate limiter cannot be reached'],
  GATEWAY_ERR_CIRCUIT_OPEN: [503, 'the upstream service is failing; calls to it are paused'],
  GATEWAY_ERR_UPSTREAM_UNREACHABLE: [502, 'the upstream service could not be reached'],
  GATEWAY_ERR_UPSTREAM_TIMEOUT: [504, 'the upstream service did not answer in time'],
  GATEWAY_ERR_UPSTREAM_RESPONSE_TOO_LARGE: [502, 'the upstream answer is larger than the gateway relays'],
});
