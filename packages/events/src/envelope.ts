import { randomUUID } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * Every event on every topic: `id` is unique per event and is what consumers deduplicate on;
 * `key` is the owner's user id, which is also the Kafka message key, so one user's events stay
 * in order on one partition.
 */
export const EnvelopeSchema = <T extends TSchema, N extends string>(type: N, data: T) =>
  Type.Object(
    {
      id: Type.String({ format: 'uuid' }),
      type: Type.Literal(type),
      version: Type.Literal(1),
      occurredAt: Type.String({ format: 'date-time' }),
      key: Type.String({ minLength: 1, maxLength: 64 }),
      data,
    },
    { additionalProperties: false, $id: `${type}.v1` },
  );

export interface Envelope<N extends string = string, D = unknown> {
  id: string;
  type: N;
  version: 1;
  occurredAt: string;
  key: string;
  data: D;
}

export type EnvelopeOf<S extends TSchema> = Static<S>;

/** Builds an envelope with a fresh id; `occurredAt` defaults to now. */
export function envelope<N extends string, D>(type: N, key: string, data: D, occurredAt: Date = new Date()): Envelope<N, D> {
  return { id: randomUUID(), type, version: 1, occurredAt: occurredAt.toISOString(), key, data };
}
