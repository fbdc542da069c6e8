import { createServiceApp } from '@taskmesh/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenPlugin, createAccessTokenVerifier, type VerifyAccessToken } from '../src/index.js';
import { createTestIssuer, type TestIssuer } from '../src/testing.js';

describe('access-token verification core', () => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let verify: VerifyAccessToken;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({
    sub: 'u1', role: 'user', iss: 'taskmesh-auth', aud: 'taskmesh', jti: 'j1', iat: now(), nbf: now(), exp: now() + 60, ...extra,
  });

  beforeAll(async () => {
    issuer = await createTestIssuer();
    other = await createTestIssuer();
    verify = createAccessTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: issuer.audience, refetchCooldownMs: 1000 });
  });
  afterAll(async () => {
    await issuer.close();
    await other.close();
  });

  it('when a token is valid, then the principal comes back, with keys fetched over HTTP', async () => {
    const p = await verify(await issuer.token('user-7', 'admin'));
    expect(p).toMatchObject({ userId: 'user-7', role: 'admin' });
    expect(p.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  it.each<[string, () => Promise<string>, string]>([
    ['alg none', async () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`, 'AUTH_ERR_TOKEN_INVALID'],
    ['an expired token', () => issuer.signRaw(claims({ exp: now() - 60, iat: now() - 120, nbf: now() - 120 })), 'AUTH_ERR_TOKEN_EXPIRED'],
    ['a token not yet valid', () => issuer.signRaw(claims({ nbf: now() + 600 })), 'AUTH_ERR_TOKEN_INVALID'],
    ['a wrong audience', () => issuer.signRaw(claims({ aud: 'someone-else' })), 'AUTH_ERR_TOKEN_INVALID'],
    ['a wrong issuer', () => issuer.signRaw(claims({ iss: 'evil' })), 'AUTH_ERR_TOKEN_INVALID'],
    ['another key', () => other.signRaw(claims(), { kid: issuer.key.kid }), 'AUTH_ERR_TOKEN_INVALID'],
    ['an unknown kid', () => other.signRaw(claims()), 'AUTH_ERR_TOKEN_INVALID'],
    ['a refresh-typed token', () => issuer.signRaw(claims(), { typ: 'refresh+jwt' }), 'AUTH_ERR_TOKEN_INVALID'],
    ['a jku header', () => issuer.signRaw(claims(), { jku: 'http://127.0.0.1:1/jwks' }), 'AUTH_ERR_TOKEN_INVALID'],
    ['no role', () => issuer.signRaw(claims({ role: undefined })), 'AUTH_ERR_TOKEN_INVALID'],
    ['an edited payload', async () => {
      const [h, , s] = (await issuer.token('u1')).split('.');
      return `${h}.${b64(claims({ role: 'admin' }))}.${s}`;
    }, 'AUTH_ERR_TOKEN_INVALID'],
  ])('when the token has %s, then it is refused with %s', async (_what, make, code) => {
    await expect(verify(await make())).rejects.toMatchObject({ code });
  });

  it('when mounted on an app, then a missing token is 401, a user is 403 on an admin route, an admin passes', async () => {
    const app = await createServiceApp({ service: 'at-test', logLevel: false });
    await app.register(accessTokenPlugin, { verify });
    app.get('/me', { preHandler: app.authenticate }, async (request) => request.principal);
    app.get('/admin', { preHandler: [app.authenticate, app.requireRole('admin')] }, async () => ({ ok: true }));
    await app.ready();
    const missing = await app.inject({ method: 'GET', url: '/me' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().code).toBe('AUTH_ERR_TOKEN_MISSING');
    const user = `Bearer ${await issuer.token('u2')}`;
    expect((await app.inject({ method: 'GET', url: '/me', headers: { authorization: user } })).json()).toMatchObject({ userId: 'u2' });
    expect((await app.inject({ method: 'GET', url: '/admin', headers: { authorization: user } })).statusCode).toBe(403);
    const admin = `Bearer ${await issuer.token('u3', 'admin')}`;
    expect((await app.inject({ method: 'GET', url: '/admin', headers: { authorization: admin } })).statusCode).toBe(200);
    await app.close();
  });

  it('when a token is presented again, then its signature is not checked again; a refused token is checked every time', async () => {
    let checks = 0;
    const counted: VerifyAccessToken = (token) => {
      checks++;
      return verify(token);
    };
    const app = await createServiceApp({ service: 'at-cache', logLevel: false });
    await app.register(accessTokenPlugin, { verify: counted });
    app.get('/me', { preHandler: app.authenticate }, async (request) => request.principal);
    await app.ready();
    const user = `Bearer ${await issuer.token('u4')}`;
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/me', headers: { authorization: user } })).json()).toMatchObject({ userId: 'u4' });
    expect(checks).toBe(1);
    const [h, , sig] = (await issuer.token('u5')).split('.');
    const forged = `Bearer ${h}.${b64(claims({ role: 'admin' }))}.${sig}`;
    for (let i = 0; i < 2; i++) expect((await app.inject({ method: 'GET', url: '/me', headers: { authorization: forged } })).statusCode).toBe(401);
    expect(checks).toBe(3);
    await app.close();
  });
});
