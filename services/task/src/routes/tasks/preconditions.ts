import type { Precondition } from '../../domain/tasks/task-repository.js';
import { errors } from '../../errors.js';

/** The strong ETag of a task version. */
export const etagOf = (version: number): string => `"${version}"`;

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e]*)"$/;
const VERSION = /^[1-9][0-9]{0,14}$/;

/**
 * If-Match (RFC 9110 §13.1.1) as a check on the task's current version: `*` accepts any
 * existing task, otherwise one of the listed strong tags must be the current one. Weak tags never
 * match (If-Match uses strong comparison). Undefined when the header is absent.
 */
export function parseIfMatch(header: string | undefined): Precondition | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return () => true;
  const versions = new Set<number>();
  for (const part of value.split(',')) {
    // RFC 9110 §5.6.1: empty list elements are ignored.
    if (part.trim() === '') continue;
    const m = ENTITY_TAG.exec(part.trim());
    if (!m) throw errors.TASK_ERR_INVALID_IF_MATCH();
    if (!m[1] && VERSION.test(m[2]!)) versions.add(Number(m[2]));
  }
  return (version) => versions.has(version);
}
