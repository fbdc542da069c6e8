import type { FastifyInstance, FastifySchema } from 'fastify';
import type { KeyRing } from '../../domain/keys/signing-keys.js';
import { AuthResponses } from '../../schemas/auth.js';

export interface WellKnownRoutesOptions {
  readonly keys: KeyRing;
}

/** The public keys that verify access tokens: the current one and the one before the last rotation. */
export async function wellKnownRoutes(app: FastifyInstance, { keys }: WellKnownRoutesOptions): Promise<void> {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        operationId: 'jwks',
        summary: 'JSON Web Key Set for access tokens',
        response: AuthResponses.jwks,
      } as FastifySchema,
    },
    async (_request, reply) =>
      // Verifiers refetch on an unknown kid anyway, so a short cache costs nothing at rotation.
      reply.header('cache-control', 'public, max-age=300').send(keys.jwks),
  );
}
