import { randomBytes } from 'node:crypto';
import { hash, parseOptions, verify, type Algorithm, type Options } from '@node-rs/argon2';

// `Algorithm` is an ambient const enum, which isolatedModules cannot read: 2 is Algorithm.Argon2id.
const ARGON2ID = 2 as Algorithm;

/** argon2id at the OWASP minimum: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

const options: Options = { algorithm: ARGON2ID, ...ARGON2_PARAMS };

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Checks a password; with no stored hash, spends the same work on a dummy one and answers false. */
  verify(stored: string | undefined, password: string): Promise<boolean>;
  /** True when a stored hash was made with weaker parameters than today's. */
  needsRehash(stored: string): boolean;
}

/**
 * argon2id hashing. `verify` with no stored hash (an unknown email) still runs a full
 * verification against a dummy hash, so that the answer takes as long as for a known account.
 */
export function createPasswordHasher(onVerify?: () => void): PasswordHasher {
  // Made at start, so that the first unknown email is not slower than the rest.
  const dummy = hash(randomBytes(16).toString('hex'), options);
  return {
    hash: (password) => hash(password, options),
    async verify(stored, password) {
      onVerify?.();
      if (stored === undefined) {
        await verify(await dummy, password);
        return false;
      }
      try {
        return await verify(stored, password);
      } catch {
        // A corrupt stored hash must read as a failed login, not a 500.
        return false;
      }
    },
    needsRehash(stored) {
      try {
        const p = parseOptions(stored);
        return (
          p.algorithm !== ARGON2ID ||
          p.memoryCost < ARGON2_PARAMS.memoryCost ||
          p.timeCost < ARGON2_PARAMS.timeCost ||
          p.parallelism < ARGON2_PARAMS.parallelism
        );
      } catch {
        return true;
      }
    },
  };
}
