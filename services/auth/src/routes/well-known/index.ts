import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuthResponses } from '../../schemas/auth.js';

/** The public keys that verify access tokens: the current one and the one before the last rotation. */
export const wellKnownRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        operationId: 'jwks',
        summary: 'JSON Web Key Set for access tokens',
        response: AuthResponses.jwks,
      },
    },
    async (_request, reply) =>
      // Verifiers refetch on an unknown kid anyway, so a short cache costs nothing at rotation.
      reply.header('cache-control', 'public, max-age=300').send(app.keys.jwks),
  );
};
