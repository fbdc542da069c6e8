import { Type, type Static } from '@sinclair/typebox';
import { kafkaConfig, mongoConfig, redisCacheConfig, serverConfig } from '@taskmesh/service-kit';

const Seconds = (fallback: number, minimum = 1) => Type.Integer({ minimum, default: fallback });

/** The environment this service reads; names are the variable names. */
export const ConfigSchema = Type.Object({
  ...serverConfig(3001),
  ...mongoConfig('auth'),
  ...kafkaConfig(),
  // Each account's profile in Redis (docs/auth.md, Profile cache): nothing changes a profile, so
  // the TTL only bounds memory and a profile removed behind the service's back.
  ...redisCacheConfig(300),

  JWT_ISSUER: Type.String({ minLength: 1, default: 'taskmesh-auth' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'taskmesh' }),
  /** Access tokens cannot be revoked, so they stay short-lived. */
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 3600, default: 900 }),
  /** Absolute lifetime of a session (a refresh-token family); rotation does not extend it. */
  REFRESH_TOKEN_TTL_SECONDS: Seconds(30 * 24 * 3600, 60),
  /** Comma-separated emails that get the admin role; the only way to become one. */
  ADMIN_EMAILS: Type.String({ default: '' }),
  /** PKCS#8 PEM Ed25519 private key that signs new tokens (a Kubernetes Secret in the cluster). */
  AUTH_SIGNING_KEY_CURRENT: Type.Optional(Type.String({ minLength: 1 })),
  /** The key signed with before the last rotation: still published so its tokens stay valid. */
  AUTH_SIGNING_KEY_PREVIOUS: Type.Optional(Type.String({ minLength: 1 })),
  /** Only when AUTH_SIGNING_KEY_CURRENT is unset: keys are generated here on first start and kept. */
  AUTH_KEY_DIR: Type.Optional(Type.String({ minLength: 1 })),

  /** Failed logins on one account, within LOGIN_FAILURE_WINDOW_SECONDS, that lock it. */
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, default: 10 }),
  LOGIN_FAILURE_WINDOW_SECONDS: Seconds(15 * 60),
  /** How long a locked account answers 429. */
  LOGIN_LOCKOUT_SECONDS: Seconds(15 * 60),

  /** How often pending events left by a failed publish are retried. */
  OUTBOX_RELAY_INTERVAL_MS: Type.Integer({ minimum: 50, default: 2000 }),
  /** Pending events younger than this are left to the request that wrote them. */
  OUTBOX_RELAY_GRACE_MS: Type.Integer({ minimum: 0, default: 5000 }),
});

export type Config = Static<typeof ConfigSchema>;

/** Lower-cased, trimmed, de-duplicated ADMIN_EMAILS. */
export function adminEmails(config: Pick<Config, 'ADMIN_EMAILS'>): ReadonlySet<string> {
  return new Set(
    config.ADMIN_EMAILS.split(',')
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e.length > 0),
  );
}
