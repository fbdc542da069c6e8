import { defineErrors } from '@taskmesh/service-kit';

/** This service's error catalogue: stable codes and their HTTP status. */
export const errors = defineErrors({
  ANALYTICS_ERR_STORE_UNAVAILABLE: [503, 'statistics are temporarily unavailable'],
});
