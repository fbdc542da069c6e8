import { describe, expect, it } from 'vitest';
import { EVENT_EXAMPLES, EVENT_SCHEMAS, decodeEvent, envelope, validateEvent } from '../src/index.js';

describe('event contracts', () => {
  it.each(Object.keys(EVENT_SCHEMAS))('when the %s example is checked, then it is valid', (type) => {
    const example = EVENT_EXAMPLES[type as keyof typeof EVENT_EXAMPLES];
    expect(validateEvent(example)).toEqual({ ok: true, event: example });
  });

  it('when an envelope is built, then it has a fresh uuid, version 1 and an ISO time', () => {
    const a = envelope('UserRegistered', 'u1', { userId: 'u1', role: 'user', registeredAt: new Date().toISOString() });
    const b = envelope('UserRegistered', 'u1', a.data);
    expect(validateEvent(a).ok).toBe(true);
    expect(a.id).not.toBe(b.id);
    expect(a.version).toBe(1);
  });

  it.each([
    ['an unknown type', { ...EVENT_EXAMPLES.TaskCreated, type: 'TaskExploded' }, /unknown event type/],
    ['an extra field', { ...EVENT_EXAMPLES.TaskCreated, data: { ...EVENT_EXAMPLES.TaskCreated.data, title: 'x' } }, /TaskCreated/],
    ['a bad status', { ...EVENT_EXAMPLES.TaskUpdated, data: { ...EVENT_EXAMPLES.TaskUpdated.data, status: 'archived' } }, /status/],
    ['a bad time', { ...EVENT_EXAMPLES.TaskCompleted, occurredAt: 'yesterday' }, /occurredAt/],
    ['a non-uuid id', { ...EVENT_EXAMPLES.UserRegistered, id: '42' }, /id/],
    ['a wrong version', { ...EVENT_EXAMPLES.TaskDeleted, version: 2 }, /version/],
  ])('when an event has %s, then it is refused with a reason', (_what, value, reason) => {
    const result = validateEvent(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('when a message value is not JSON or empty, then decoding says so', () => {
    expect(decodeEvent(Buffer.from('{nope'))).toEqual({ ok: false, reason: 'message value is not JSON' });
    expect(decodeEvent(null)).toEqual({ ok: false, reason: 'empty message value' });
    expect(decodeEvent(Buffer.from(JSON.stringify(EVENT_EXAMPLES.TaskDeleted))).ok).toBe(true);
  });
});
