import { createHash } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { createAccessTokenVerifier } from '@taskmesh/access-token';
import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  PASSWORD,
  bearer,
  login,
  metricValue,
  postJson,
  register,
  startApp,
  stopApp,
  testConfig,
  uniqueEmail,
} from './harness.js';

describe('accounts and sessions', () => {
  const config = testConfig();
  let app: FastifyInstance;
  const users = () => app.mongo.db.collection('users');
  const tokens = () => app.mongo.db.collection('refresh_tokens');
  const refresh = (refreshToken: string) => postJson(app, '/auth/refresh', { refreshToken });
  const sha256 = (token: string) => createHash('sha256').update(token).digest('base64url');
  const stored = (token: string) => tokens().findOne({ _id: sha256(token) as never });
  const revocation = async (token: string) => app.mongo.db.collection('revoked_sessions').findOne({ _id: (await stored(token))!.familyId });

  beforeAll(async () => {
    app = await startApp(config);
  });
  afterAll(() => stopApp(app));

  it('when someone registers, then 201 answers the user without the hash, and the stored hash is argon2id with m=19456, t=2, p=1', async () => {
    const email = uniqueEmail('Ada');
    const res = await postJson(app, '/auth/register', { email: `  ${email.toUpperCase()}\t`, password: PASSWORD });

    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'email', 'id', 'role']);
    expect(body).toMatchObject({ email: email.toLowerCase(), role: 'user' });
    expect(res.body).not.toMatch(/argon2|passwordHash/);

    const stored = await users().findOne({ email: email.toLowerCase() });
    expect(stored?._id).toBe(body.id);
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await argon2Verify(stored!.passwordHash, PASSWORD)).toBe(true);
    expect(await app.mongo.db.collection('users_by_id').findOne({ _id: body.id })).toEqual({ _id: body.id, email: email.toLowerCase() });
  });

  it('when the email is already taken, in another case or with spaces, then 409 and no second account', async () => {
    const email = uniqueEmail();
    await register(app, email);
    const res = await postJson(app, '/auth/register', { email: ` ${email.toUpperCase()} `, password: 'another good passphrase' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ code: 'AUTH_ERR_EMAIL_TAKEN', message: expect.any(String) });
    expect(await users().countDocuments({ email })).toBe(1);
  });

  it('when two registrations race for one email, then exactly one account is created and the other gets 409', async () => {
    const email = uniqueEmail('race');
    const answers = await Promise.all([
      postJson(app, '/auth/register', { email, password: PASSWORD }),
      postJson(app, '/auth/register', { email: email.toUpperCase(), password: 'another good passphrase' }),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([201, 409]);
    expect(await users().countDocuments({ email })).toBe(1);
    // The loser's id mapping was removed again; the winner's points at the stored user.
    const winner = answers.find((a) => a.statusCode === 201)!.json();
    expect(await app.mongo.db.collection('users_by_id').find({ email }).toArray()).toEqual([{ _id: winner.id, email }]);
  });

  it('when a user logs in, then the access token is an at+jwt signed by the published key with every claim, and opens /auth/me', async () => {
    const user = await register(app);
    const pair = await login(app, user.email);

    expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    const header = decodeProtectedHeader(pair.accessToken);
    const claims = decodeJwt(pair.accessToken);
    const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>();
    const { kid, alg: _alg, use: _use, ...publicKey } = jwks.keys[0]!;
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid });
    expect(kid).toBe(await calculateJwkThumbprint(publicKey, 'sha256'));
    expect(claims).toMatchObject({ iss: 'taskmesh-auth', aud: 'taskmesh', sub: user.id, role: 'user', jti: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(900);

    const verify = createAccessTokenVerifier({ jwks, issuer: 'taskmesh-auth', audience: 'taskmesh' });
    await expect(verify(pair.accessToken)).resolves.toMatchObject({ userId: user.id, role: 'user' });

    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(pair.accessToken) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual(user);
    expect((await app.inject({ method: 'GET', url: '/auth/me' })).statusCode).toBe(401);
  });

  it('when the password is wrong, then 401 with the credentials code and no tokens', async () => {
    const user = await register(app);
    const res = await postJson(app, '/auth/login', { email: user.email, password: `${PASSWORD}!` });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ code: 'AUTH_ERR_INVALID_CREDENTIALS', message: 'the email or password is wrong' });
  });

  it('when a refresh token is used, then a new pair comes back in the same session, and only hashes are stored', async () => {
    const user = await register(app);
    const first = await login(app, user.email);
    const before = await stored(first.refreshToken);

    const res = await refresh(first.refreshToken);
    expect(res.statusCode).toBe(200);
    const second = res.json();
    expect(second).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(decodeJwt(second.accessToken).sub).toBe(user.id);

    const after = await stored(second.refreshToken);
    expect(after).toMatchObject({ userId: user.id, email: user.email, familyId: before!.familyId, generation: 2 });
    // Rotation never extends the session: its end is fixed at login.
    expect(after!.expiresAt).toEqual(before!.expiresAt);
    const everything = JSON.stringify(
      await Promise.all(['refresh_tokens', 'spent_refresh_tokens'].map((c) => app.mongo.db.collection(c).find().toArray())),
    );
    expect(everything).not.toContain(first.refreshToken);
    expect(everything).not.toContain(second.refreshToken);
    expect(await app.mongo.db.collection('spent_refresh_tokens').findOne({ _id: sha256(first.refreshToken) as never })).toMatchObject({
      familyId: before!.familyId,
    });
  });

  it('when a spent refresh token is presented again, then 401, and its whole family is revoked so the newest token fails too', async () => {
    const user = await register(app);
    const other = await login(app, user.email);
    const first = await login(app, user.email);
    const second = (await refresh(first.refreshToken)).json();
    const reuseBefore = await metricValue(app, 'auth_refresh_total', { outcome: 'reuse_detected' });

    const replay = await refresh(first.refreshToken);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('AUTH_ERR_REFRESH_INVALID');
    expect((await refresh(second.refreshToken)).statusCode).toBe(401);

    expect(await revocation(first.refreshToken)).toMatchObject({ reason: 'reuse', userId: user.id, revokedAt: expect.any(Date) });
    expect(await metricValue(app, 'auth_refresh_total', { outcome: 'reuse_detected' })).toBe(reuseBefore + 1);
    // Only that family: the user's other session lives on.
    expect((await refresh(other.refreshToken)).statusCode).toBe(200);
  });

  it('when two refreshes race with one token, then exactly one succeeds', async () => {
    const user = await register(app);
    const pair = await login(app, user.email);
    const answers = await Promise.all([refresh(pair.refreshToken), refresh(pair.refreshToken)]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401]);
  });

  it('when the user logs out, then that session can no longer refresh, another session can, and a foreign session is untouched', async () => {
    const user = await register(app);
    const kept = await login(app, user.email);
    const ended = await login(app, user.email);
    const stranger = await register(app);
    const strangers = await login(app, stranger.email);

    expect((await postJson(app, '/auth/logout', { refreshToken: ended.refreshToken })).statusCode).toBe(401);
    const res = await postJson(app, '/auth/logout', { refreshToken: ended.refreshToken }, bearer(ended.accessToken));
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    // Someone else's refresh token: answered the same, revokes nothing.
    expect((await postJson(app, '/auth/logout', { refreshToken: strangers.refreshToken }, bearer(kept.accessToken))).statusCode).toBe(204);

    expect((await refresh(ended.refreshToken)).statusCode).toBe(401);
    expect(await revocation(ended.refreshToken)).toMatchObject({ reason: 'logout' });
    expect(await revocation(strangers.refreshToken)).toBeNull();
    expect((await refresh(kept.refreshToken)).statusCode).toBe(200);
    expect((await refresh(strangers.refreshToken)).statusCode).toBe(200);
  });

  it('when a session is past its absolute expiry, then refresh is refused by the query although the record is still there', async () => {
    const user = await register(app);
    const pair = await login(app, user.email);
    const _id = sha256(pair.refreshToken) as never;
    await tokens().updateOne({ _id }, { $set: { expiresAt: new Date(Date.now() - 1000) } });

    expect((await refresh(pair.refreshToken)).statusCode).toBe(401);
    expect(await tokens().findOne({ _id })).toMatchObject({ generation: 1 });
    expect(await revocation(pair.refreshToken)).toBeNull();
  });

  it('when a refresh token is malformed or unknown, then 401', async () => {
    expect((await refresh('not-a-token')).statusCode).toBe(401);
    expect((await refresh('A'.repeat(43))).statusCode).toBe(401);
  });

  it('when the email is listed in ADMIN_EMAILS, then the account is an admin; the public route cannot make one', async () => {
    const admin = await register(app, ` ${ADMIN_EMAIL} `);
    expect(admin.role).toBe('admin');
    const pair = await login(app, ADMIN_EMAIL.toUpperCase());
    expect(decodeJwt(pair.accessToken).role).toBe('admin');
    expect((await refresh(pair.refreshToken)).json().accessToken).toSatisfy((t: string) => decodeJwt(t).role === 'admin');

    const res = await postJson(app, '/auth/register', { email: uniqueEmail(), password: PASSWORD, role: 'admin' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('ERR_VALIDATION');
  });

  it("when a stored hash was made with weaker argon2 parameters, then the next successful login replaces it with today's", async () => {
    const user = await register(app);
    const weak = await argon2Hash(PASSWORD, { algorithm: 2 as never, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await users().updateOne({ email: user.email, _id: user.id as never }, { $set: { passwordHash: weak } });

    await login(app, user.email);
    expect((await users().findOne({ email: user.email }))!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await login(app, user.email);
  });

  it('when ADMIN_EMAILS changes, then an existing account gets the new role at its next login and refresh, and it is stored', async () => {
    const user = await register(app);
    const before = await login(app, user.email);
    const promoted = await startApp({ ...config, ADMIN_EMAILS: user.email });
    try {
      const after = await login(promoted, user.email);
      expect(decodeJwt(after.accessToken).role).toBe('admin');
      expect((await postJson(promoted, '/auth/refresh', { refreshToken: before.refreshToken })).json().accessToken).toSatisfy(
        (t: string) => decodeJwt(t).role === 'admin',
      );
      expect(await users().findOne({ email: user.email })).toMatchObject({ role: 'admin' });
    } finally {
      await stopApp(promoted, false);
    }
  });
});
