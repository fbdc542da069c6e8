import { Counter, type Registry } from 'prom-client';

export type LoginOutcome = 'success' | 'invalid_credentials' | 'locked';
export type RefreshOutcome = 'rotated' | 'invalid' | 'reuse_detected';

/** This service's own series, on the app's registry (so each test app has its own). */
export interface AuthMetrics {
  readonly registrations: Counter;
  readonly logins: Counter<'outcome'>;
  readonly lockouts: Counter;
  readonly refreshes: Counter<'outcome'>;
  /** Every argon2 verification, including the dummy one for unknown emails. */
  readonly passwordVerifications: Counter;
}

export function createAuthMetrics(registry: Registry): AuthMetrics {
  const registers = [registry];
  return {
    registrations: new Counter({ name: 'auth_registrations_total', help: 'Accounts created', registers }),
    logins: new Counter({
      name: 'auth_login_attempts_total',
      help: 'Login attempts by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    lockouts: new Counter({ name: 'auth_account_lockouts_total', help: 'Accounts locked after too many failed logins', registers }),
    refreshes: new Counter({
      name: 'auth_refresh_total',
      help: 'Refresh-token presentations by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    passwordVerifications: new Counter({
      name: 'auth_password_verifications_total',
      help: 'argon2 verifications, dummy ones included',
      registers,
    }),
  };
}
