import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, metricValue, postJson, register, startApp, stopApp, testConfig, uniqueEmail } from './harness.js';

/** What a client can observe of an answer, minus what differs per request anyway. */
const observable = (res: LightMyRequestResponse) => {
  const { date: _date, 'x-request-id': _id, ...headers } = res.headers;
  return { status: res.statusCode, headers, body: res.body };
};

describe('login lockout with the default policy (10 failures in 15 minutes)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(() => stopApp(app));

  it('when an account fails 10 logins, then it answers 429 with Retry-After even for the right password, and an unknown email answers exactly alike', async () => {
    const known = (await register(app)).email;
    const unknown = uniqueEmail('nobody');
    const verificationsBefore = await metricValue(app, 'auth_password_verifications_total');
    const lockoutsBefore = await metricValue(app, 'auth_account_lockouts_total');

    const failedKnown: LightMyRequestResponse[] = [];
    const failedUnknown: LightMyRequestResponse[] = [];
    for (let i = 0; i < 10; i++) {
      failedKnown.push(await postJson(app, '/auth/login', { email: known, password: `wrong password ${i}` }));
      failedUnknown.push(await postJson(app, '/auth/login', { email: unknown, password: `wrong password ${i}` }));
    }
    for (let i = 0; i < 10; i++) {
      expect(failedKnown[i]!.statusCode).toBe(401);
      expect(observable(failedUnknown[i]!)).toEqual(observable(failedKnown[i]!));
    }
    // The unknown email cost an argon2 verification each time, as the known one did.
    expect(await metricValue(app, 'auth_password_verifications_total')).toBe(verificationsBefore + 20);
    expect(await metricValue(app, 'auth_account_lockouts_total')).toBe(lockoutsBefore + 2);

    const lockedKnown = await postJson(app, '/auth/login', { email: known, password: PASSWORD });
    const lockedUnknown = await postJson(app, '/auth/login', { email: unknown, password: PASSWORD });
    expect(lockedKnown.statusCode).toBe(429);
    expect(lockedKnown.json()).toEqual({ code: 'AUTH_ERR_LOGIN_LOCKED', message: expect.any(String) });
    const retryAfter = Number(lockedKnown.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(890);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(observable(lockedUnknown)).toEqual(observable(lockedKnown));
    // A locked answer spends no hashing at all.
    expect(await metricValue(app, 'auth_password_verifications_total')).toBe(verificationsBefore + 20);
    // Spelling the address differently does not get around the lock.
    expect((await postJson(app, '/auth/login', { email: ` ${known.toUpperCase()} `, password: PASSWORD })).statusCode).toBe(429);
  });

  it('when logins for known and unknown emails fail, then both take comparable time (figures printed, not asserted)', async () => {
    const emails = { known: (await register(app)).email, unknown: uniqueEmail('nobody') };
    const samples = { known: [] as number[], unknown: [] as number[] };
    // Alternating which goes first; 8 failures each stays under the lock.
    for (let i = 0; i < 8; i++) {
      for (const kind of i % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
        const email = emails[kind];
        const t0 = performance.now();
        const res = await postJson(app, '/auth/login', { email, password: 'not the password' });
        samples[kind].push(performance.now() - t0);
        expect(res.statusCode).toBe(401);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const k = median(samples.known);
    const u = median(samples.unknown);
    console.log(
      `failed login, median of 8: known email ${k.toFixed(1)} ms, unknown email ${u.toFixed(1)} ms, ratio unknown/known ${(u / k).toFixed(2)}`,
    );
  });
});

describe('login lockout over time (3 failures, to keep hashing cheap)', () => {
  let app: FastifyInstance;
  let offsetMs = 0;
  const later = (minutes: number) => void (offsetMs += minutes * 60_000);

  beforeAll(async () => {
    app = await startApp(testConfig({ LOGIN_MAX_FAILURES: '3' }), { now: () => new Date(Date.now() + offsetMs) });
  });
  afterAll(() => stopApp(app));

  const attempt = (email: string, password: string) => postJson(app, '/auth/login', { email, password });

  it('when the lock runs out, then the right password logs in again and the failures before the lock no longer count', async () => {
    const email = (await register(app)).email;
    for (let i = 0; i < 3; i++) expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(429);

    later(14);
    const stillLocked = await attempt(email, PASSWORD);
    expect(stillLocked.statusCode).toBe(429);
    expect(Number(stillLocked.headers['retry-after'])).toBeLessThanOrEqual(60);

    later(2);
    // One more failure after the lock does not re-lock: the three before it were paid for.
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(200);
  });

  it('when failures are spread wider than the window, then they do not add up to a lock', async () => {
    const email = (await register(app)).email;
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    later(16);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(200);
  });

  it('when a login succeeds, then the failures before it are forgotten', async () => {
    const email = (await register(app)).email;
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(200);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, 'wrong password')).statusCode).toBe(401);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(200);
  });

  it('when failures arrive in parallel, then none is lost and the account locks', async () => {
    const email = (await register(app)).email;
    const answers = await Promise.all(Array.from({ length: 6 }, () => attempt(email, 'wrong password')));
    expect(answers.every((a) => a.statusCode === 401 || a.statusCode === 429)).toBe(true);
    expect((await attempt(email, PASSWORD)).statusCode).toBe(429);
  });
});
