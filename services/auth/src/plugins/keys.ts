import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { loadKeyRing, type KeyRing, type KeySources } from '../domain/keys/signing-keys.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The signing keys this instance uses and publishes. */
    keys: KeyRing;
  }
}

/** The signing keys, from the PEM settings or the local key folder; a bad key fails the start. */
export const keysPlugin = fp<KeySources>(
  async (app: FastifyInstance, opts) => {
    app.decorate('keys', await loadKeyRing(opts));
  },
  { name: 'auth-keys' },
);
