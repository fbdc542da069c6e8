import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createAccessTokenVerifier } from '@taskmesh/access-token';
import { ConfigError } from '@taskmesh/service-kit';
import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { generateSigningKeyPem, rotateKeyDir } from '../src/domain/keys/signing-keys.js';
import { bearer, login, register, startApp, stopApp, testConfig } from './harness.js';

const jwksOf = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>();
const kidsOf = async (app: FastifyInstance) => (await jwksOf(app)).keys.map((k) => k.kid);
const verifierFor = (jwks: JSONWebKeySet) => createAccessTokenVerifier({ jwks, issuer: 'taskmesh-auth', audience: 'taskmesh' });

describe('signing keys', () => {
  const opened: FastifyInstance[] = [];
  const open = async (...args: Parameters<typeof startApp>) => {
    const app = await startApp(...args);
    opened.push(app);
    return app;
  };
  afterAll(async () => {
    for (const app of opened.reverse()) await stopApp(app);
  });

  it('when keys rotate once, then the JWKS serves the new and the previous key and older tokens still verify; after a second rotation the oldest key is gone', async () => {
    const [k1, k2, k3] = [generateSigningKeyPem(), generateSigningKeyPem(), generateSigningKeyPem()];
    const base = testConfig();
    const withKeys = (current: string, previous?: string) => ({
      ...base,
      AUTH_SIGNING_KEY_CURRENT: current,
      AUTH_SIGNING_KEY_PREVIOUS: previous,
    });

    const first = await open(withKeys(k1));
    const user = await register(first);
    const t1 = (await login(first, user.email)).accessToken;
    const [kid1] = await kidsOf(first);
    expect(await kidsOf(first)).toHaveLength(1);

    const second = await open(withKeys(k2, k1));
    const jwks2 = await jwksOf(second);
    const t2 = (await login(second, user.email)).accessToken;
    const kid2 = decodeProtectedHeader(t2).kid;
    expect(jwks2.keys.map((k) => k.kid)).toEqual([kid2, kid1]);
    await expect(verifierFor(jwks2)(t1)).resolves.toMatchObject({ userId: user.id });
    expect((await second.inject({ method: 'GET', url: '/auth/me', headers: bearer(t1) })).statusCode).toBe(200);

    const third = await open(withKeys(k3, k2));
    const jwks3 = await jwksOf(third);
    expect(jwks3.keys.map((k) => k.kid)).toEqual([expect.any(String), kid2]);
    expect(jwks3.keys.map((k) => k.kid)).not.toContain(kid1);
    await expect(verifierFor(jwks3)(t2)).resolves.toMatchObject({ userId: user.id });
    await expect(verifierFor(jwks3)(t1)).rejects.toMatchObject({ code: 'AUTH_ERR_TOKEN_INVALID' });
    expect((await third.inject({ method: 'GET', url: '/auth/me', headers: bearer(t1) })).statusCode).toBe(401);
  });

  it('when the JWKS is served, then each kid is the RFC 7638 thumbprint of its key and no private part is published', async () => {
    const app = await open(
      testConfig({ AUTH_SIGNING_KEY_CURRENT: generateSigningKeyPem(), AUTH_SIGNING_KEY_PREVIOUS: generateSigningKeyPem() }),
    );
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
    for (const { kid, alg, use, ...key } of res.json<JSONWebKeySet>().keys) {
      expect(key).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String) });
      expect({ alg, use }).toEqual({ alg: 'EdDSA', use: 'sig' });
      expect(kid).toBe(await calculateJwkThumbprint(key, 'sha256'));
    }
  });

  it('when no key is configured but AUTH_KEY_DIR is, then a key is generated there once, private to its owner, and kept across starts and rotations', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'auth-keys-'));
    try {
      const keyDir = path.join(dir, 'keys');
      const config = { ...testConfig(), AUTH_SIGNING_KEY_CURRENT: undefined, AUTH_KEY_DIR: keyDir };
      const [generated] = await kidsOf(await open(config));
      expect((await fs.stat(path.join(keyDir, 'current.pem'))).mode & 0o777).toBe(0o600);
      expect((await fs.stat(keyDir)).mode & 0o777).toBe(0o700);
      expect(await kidsOf(await open(config))).toEqual([generated]);

      await rotateKeyDir(keyDir);
      const rotated = await kidsOf(await open(config));
      expect(rotated).toHaveLength(2);
      expect(rotated[1]).toBe(generated);
      await rotateKeyDir(keyDir);
      expect(await kidsOf(await open(config))).not.toContain(generated);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a key that is not PEM', { AUTH_SIGNING_KEY_CURRENT: 'not a key' }, /AUTH_SIGNING_KEY_CURRENT: not a PEM private key/],
    [
      'an RSA key',
      {
        AUTH_SIGNING_KEY_CURRENT: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }) as string,
      },
      /must be an Ed25519 key \(got rsa\)/,
    ],
    [
      'a previous key without a current one',
      { AUTH_SIGNING_KEY_CURRENT: undefined, AUTH_SIGNING_KEY_PREVIOUS: generateSigningKeyPem() },
      /without AUTH_SIGNING_KEY_CURRENT/,
    ],
    ['no key and no key folder', { AUTH_SIGNING_KEY_CURRENT: undefined }, /AUTH_SIGNING_KEY_CURRENT: not set/],
  ])(
    'when the configuration has %s, then the service refuses to start with a message naming the variable',
    async (_what, override, message) => {
      const attempt = buildApp({ ...testConfig(), ...override }, { logLevel: false });
      await expect(attempt).rejects.toBeInstanceOf(ConfigError);
      await expect(attempt).rejects.toThrow(message);
    },
  );

  it('when a PEM arrives with escaped newlines, as some secret stores pass it, then it is read all the same', async () => {
    const pem = generateSigningKeyPem();
    const app = await open(testConfig({ AUTH_SIGNING_KEY_CURRENT: pem.replace(/\n/g, '\\n') }));
    const direct = await open(testConfig({ AUTH_SIGNING_KEY_CURRENT: pem }));
    expect(await kidsOf(app)).toEqual(await kidsOf(direct));
  });
});
