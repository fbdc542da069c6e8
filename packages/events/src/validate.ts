import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { FormatRegistry } from '@sinclair/typebox';
import { EVENT_SCHEMAS, type DomainEvent, type EventType } from './contracts.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));

const checkers = Object.fromEntries(Object.entries(EVENT_SCHEMAS).map(([type, schema]) => [type, TypeCompiler.Compile(schema)])) as Record<
  EventType,
  TypeCheck<(typeof EVENT_SCHEMAS)[EventType]>
>;

export type ValidationResult = { ok: true; event: DomainEvent } | { ok: false; reason: string };

/** Checks a decoded message against its contract; the reason names the first problem. */
export function validateEvent(value: unknown): ValidationResult {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !(type in checkers)) {
    return { ok: false, reason: `unknown event type ${JSON.stringify(type)}` };
  }
  const checker = checkers[type as EventType];
  if (checker.Check(value)) return { ok: true, event: value as DomainEvent };
  const first = checker.Errors(value).First();
  return { ok: false, reason: `${type}: ${first?.path || '/'} ${first?.message ?? 'invalid'}` };
}

/** Parses a Kafka message value (JSON bytes) and validates it. */
export function decodeEvent(value: Buffer | string | null): ValidationResult {
  if (value === null) return { ok: false, reason: 'empty message value' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return { ok: false, reason: 'message value is not JSON' };
  }
  return validateEvent(parsed);
}
