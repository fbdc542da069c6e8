import { defineErrors } from '@taskmesh/service-kit';

/** Every error this service answers with, beyond the shared ones (validation, auth, 5xx). */
export const errors = defineErrors({
  TASK_ERR_NOT_FOUND: [404, 'task not found'],
  TASK_ERR_INVALID_ID: [400, 'a task id is 24 hexadecimal characters'],
  TASK_ERR_INVALID_CURSOR: [400, 'the cursor was not issued by this service'],
  TASK_ERR_INVALID_QUERY: [400, 'the query is invalid'],
  TASK_ERR_INVALID_IF_MATCH: [400, 'If-Match must be "*" or a list of entity tags'],
  TASK_ERR_PRECONDITION_FAILED: [412, 'the task has changed since that version: read it again'],
  TASK_ERR_IDEMPOTENCY_KEY_REUSED: [422, 'this Idempotency-Key was already used with a different request'],
  TASK_ERR_GONE: [410, 'the task created with this Idempotency-Key has since been deleted'],
  TASK_ERR_CONFLICT: [409, 'the task is being changed concurrently; try again'],
});
