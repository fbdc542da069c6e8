import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet } from 'jose';
import { ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP, signAccessToken, type Role, type SigningKey } from './token.js';

export interface TestIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly jwks: JSONWebKeySet;
  /** A real HTTP JWKS endpoint on 127.0.0.1. */
  readonly jwksUrl: string;
  readonly key: SigningKey;
  /** A valid access token for `sub`. */
  token(sub: string, role?: Role, ttlSeconds?: number): Promise<string>;
  /** Sign arbitrary claims and header with the issuer's key, to build forged tokens. */
  signRaw(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * A key pair and a JWKS server for tests of services that verify tokens, so that they do not
 * need a running auth service. Signing uses the same code as auth.
 */
export async function createTestIssuer(opts: { issuer?: string; audience?: string } = {}): Promise<TestIssuer> {
  const issuer = opts.issuer ?? 'taskmesh-auth';
  const audience = opts.audience ?? 'taskmesh';
  const { privateKey, publicKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { crv: 'Ed25519', extractable: true });
  const kid = `test-${Math.random().toString(36).slice(2, 10)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: ACCESS_TOKEN_ALG, use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [jwk] };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const key: SigningKey = { kid, privateKey };
  return {
    issuer,
    audience,
    jwks,
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    key,
    token: (sub, role = 'user', ttlSeconds = 900) => signAccessToken(key, { sub, role, issuer, audience, ttlSeconds }),
    signRaw: (claims, header = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid, ...header }).sign(privateKey),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
