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
    expect(loadConfig(Schema, { PORT: '8080', SIGNING_KEY: '0123456789' })).toEqual({
      PORT: 8080,
      DEBUG: false,
      SIGNING_KEY: '0123456789',
    });
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

describe('shared config fragments', () => {
  it('when a service spreads them, then defaults, conversion and checks come with them', async () => {
    const { kafkaConfig, mongoConfig, serverConfig, tokenVerifierConfig } = await import('../src/index.js');
    const schema = Type.Object({ ...serverConfig(3002), ...mongoConfig('task'), ...kafkaConfig(), ...tokenVerifierConfig() });
    expect(loadConfig(schema, { PORT: '4000', LOG_LEVEL: 'debug' })).toMatchObject({
      PORT: 4000,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'debug',
      MONGODB_DB: 'task',
      KAFKA_BROKERS: '127.0.0.1:9092',
      JWT_AUDIENCE: 'taskmesh',
    });
    expect(() => loadConfig(schema, { LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig(schema, { MONGODB_MAX_POOL_SIZE: '0' })).toThrow(/MONGODB_MAX_POOL_SIZE/);
  });

  it('when kafkaConfig is given topics, then each is a setting of its own, defaulting to the named topic when unset or empty', async () => {
    const { kafkaConfig } = await import('../src/index.js');
    const schema = Type.Object(kafkaConfig({ USER_EVENTS_TOPIC: 'user-events', TASK_EVENTS_TOPIC: 'task-events' }));
    expect(loadConfig(schema, { TASK_EVENTS_TOPIC: 'task-events-test' })).toEqual({
      KAFKA_BROKERS: '127.0.0.1:9092',
      USER_EVENTS_TOPIC: 'user-events',
      TASK_EVENTS_TOPIC: 'task-events-test',
    });
    expect(loadConfig(schema, { USER_EVENTS_TOPIC: '' }).USER_EVENTS_TOPIC).toBe('user-events');
  });
});
