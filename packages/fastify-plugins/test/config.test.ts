import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/index.js';

const Schema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3000 }),
  DEBUG: Type.Boolean({ default: false }),
  SIGNING_KEY: Type.String({ minLength: 10 }),
});

describe('loadConfig', () => {
  it('when variables are set, then they are converted to the schema types and defaults fill the rest', () => {
    expect(loadConfig(Schema, { PORT: '8080', SIGNING_KEY: '0123456789' })).toEqual({ PORT: 8080, DEBUG: false, SIGNING_KEY: '0123456789' });
  });

  it('when a variable is invalid or missing, then every problem is named and secrets are not shown', () => {
    let error: unknown;
    try {
      loadConfig(Schema, { PORT: 'eighty', SIGNING_KEY: 'short' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT');
    expect(message).toContain('SIGNING_KEY');
    expect(message).not.toContain('short');
    expect(() => loadConfig(Schema, {})).toThrow(/SIGNING_KEY.*not set/);
  });
});
