import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestIssuer, type TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, testConfig } from './support/gateway.js';
import { startStub, type StubUpstream } from './support/processes.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWKS endpoint that counts its fetches: the gateway must not let tokens make it fetch at will. */
async function countingJwksServer(body: () => unknown): Promise<{ url: string; fetches: () => number; close: () => Promise<void> }> {
  let fetches = 0;
  const server = http.createServer((_req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('gateway authentication', () => {
  let issuer: TestIssuer;
  let jwks: Awaited<ReturnType<typeof countingJwksServer>>;
  let attackerJwks: Awaited<ReturnType<typeof countingJwksServer>>;
  let task: StubUpstream;
  let other: StubUpstream;
  let app: FastifyInstance;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    sub: `user-${randomUUID()}`,
    role: 'user',
    iss: issuer.issuer,
    aud: issuer.audience,
    iat: now(),
    nbf: now(),
    exp: now() + 600,
    jti: randomUUID(),
    ...over,
  });

  beforeAll(async () => {
    [issuer, task, other] = await Promise.all([createTestIssuer(), startStub('task'), startStub('other')]);
    jwks = await countingJwksServer(() => issuer.jwks);
    const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    attackerJwks = await countingJwksServer(() => ({ keys: [{ kid: 'evil', alg: 'EdDSA', use: 'sig', ...attackerJwk }] }));
    app = await startGateway(
      testConfig({
        REDIS_URL: inject('infra').redisUrl,
        AUTH_URL: other.url,
        TASK_URL: task.url,
        ANALYTICS_URL: other.url,
        JWKS_URL: jwks.url,
        JWKS_REFETCH_COOLDOWN_MS: 30_000,
      }),
    );
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([task?.stop(), other?.stop(), issuer?.close(), jwks?.close(), attackerJwks?.close()]);
  });

  const call = (authorization: string) => app.inject({ method: 'GET', url: '/tasks', headers: { authorization } });

  it('when a valid access token is presented, then the request reaches the task service', async () => {
    const res = await call(`Bearer ${await issuer.token(`user-${randomUUID()}`)}`);
    expect(res.statusCode).toBe(200);
  });

  const forgeries: [string, () => Promise<string>, string][] = [
    [
      'alg none',
      async () => `${b64url({ alg: 'none', typ: 'at+jwt', kid: issuer.key.kid })}.${b64url(claims())}.`,
      'AUTH_ERR_TOKEN_INVALID',
    ],
    [
      'HS256 signed with the public key',
      async () => {
        const pem = await exportSPKI((await importJWK(issuer.jwks.keys[0]!, 'EdDSA')) as CryptoKey);
        return new SignJWT(claims())
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuer.key.kid })
          .sign(new TextEncoder().encode(pem));
      },
      'AUTH_ERR_TOKEN_INVALID',
    ],
    [
      'payload edited after signing',
      async () => {
        const [header, , signature] = (await issuer.signRaw(claims())).split('.');
        return `${header}.${b64url(claims({ role: 'admin', sub: 'someone-else' }))}.${signature}`;
      },
      'AUTH_ERR_TOKEN_INVALID',
    ],
    ['expired', () => issuer.signRaw(claims({ iat: now() - 1200, nbf: now() - 1200, exp: now() - 600 })), 'AUTH_ERR_TOKEN_EXPIRED'],
    ['not yet valid', () => issuer.signRaw(claims({ nbf: now() + 600 })), 'AUTH_ERR_TOKEN_INVALID'],
    ['for another audience', () => issuer.signRaw(claims({ aud: 'someone-else' })), 'AUTH_ERR_TOKEN_INVALID'],
    ['from another issuer', () => issuer.signRaw(claims({ iss: 'https://evil.example.com' })), 'AUTH_ERR_TOKEN_INVALID'],
    ['with an unknown kid', () => issuer.signRaw(claims(), { kid: 'no-such-key' }), 'AUTH_ERR_TOKEN_INVALID'],
    [
      'signed by another key under the real kid',
      async () => {
        const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
        return new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: issuer.key.kid }).sign(privateKey);
      },
      'AUTH_ERR_TOKEN_INVALID',
    ],
    ['an opaque refresh token used as a bearer', async () => randomBytes(32).toString('base64url'), 'AUTH_ERR_TOKEN_INVALID'],
    ['a JWT of another type (typ JWT) signed by the real key', () => issuer.signRaw(claims(), { typ: 'JWT' }), 'AUTH_ERR_TOKEN_INVALID'],
    ['without a role', () => issuer.signRaw(claims({ role: undefined })), 'AUTH_ERR_TOKEN_INVALID'],
  ];

  it.each(forgeries)(
    'when the token is %s, then the gateway answers 401 and the upstream never sees the request',
    async (_name, forge, code) => {
      const before = await task.served();
      const res = await call(`Bearer ${await forge()}`);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ code, message: expect.any(String) });
      expect(res.headers['www-authenticate']).toContain(code);
      expect(await task.served()).toBe(before);
    },
  );

  it.each(['jku', 'x5u', 'jwk'])(
    'when the token names its own key through "%s", then it is refused and that address is never fetched',
    async (header) => {
      const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const value = header === 'jwk' ? { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } : attackerJwks.url;
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'evil', [header]: value })
        .sign(attacker.privateKey);
      const res = await call(`Bearer ${token}`);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'AUTH_ERR_TOKEN_INVALID' });
      expect(attackerJwks.fetches()).toBe(0);
    },
  );

  it('when many tokens with unknown kids arrive, then the JWKS is fetched again at most once per cooldown', async () => {
    const before = jwks.fetches();
    for (let i = 0; i < 10; i++) {
      const res = await call(`Bearer ${await issuer.signRaw(claims(), { kid: `unknown-${i}` })}`);
      expect(res.statusCode).toBe(401);
    }
    expect(jwks.fetches() - before).toBeLessThanOrEqual(1);
  });

  it('when a credential that is not a bearer token is sent, then it answers 401', async () => {
    const res = await call('Basic dXNlcjpwYXNz');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'AUTH_ERR_TOKEN_INVALID' });
  });
});
