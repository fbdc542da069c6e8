import { describe, expect, it } from 'vitest';
import { waitWording } from '../src/plugins/rate-limits.js';

describe('the wait named in a 429 message', () => {
  it('when the window has seconds, minutes or hours left, then the wording is the one @fastify/rate-limit used', () => {
    expect(waitWording(1000)).toBe('1 second');
    expect(waitWording(38_000)).toBe('38 seconds');
    expect(waitWording(60_000)).toBe('1 minute');
    expect(waitWording(150_000)).toBe('3 minutes');
    expect(waitWording(7_200_000)).toBe('2 hours');
    expect(waitWording(500)).toBe('500 ms');
  });
});
