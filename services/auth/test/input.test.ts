import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, bearer, login, postJson, register, startApp, stopApp, uniqueEmail } from './harness.js';

const STACK = /at .*\.(js|ts):\d+|node_modules/;

describe('bad input', () => {
  let app: FastifyInstance;
  let accessToken: string;
  const users = () => app.mongo.db.collection('users');

  beforeAll(async () => {
    app = await startApp();
    accessToken = (await login(app, (await register(app)).email)).accessToken;
  });
  afterAll(() => stopApp(app));

  const send = (url: string, payload: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...bearer(accessToken), ...headers } });

  const email = 'someone@example.com';
  const cases: [string, string, string, number, string][] = [
    ['malformed JSON', '/auth/register', '{"email":"a@b.co","password":', 400, 'ERR_MALFORMED_JSON'],
    ['an empty JSON body', '/auth/login', '', 400, 'ERR_MALFORMED_JSON'],
    ['a JSON array as the body', '/auth/login', '[]', 400, 'ERR_VALIDATION'],
    ['an unknown field', '/auth/register', JSON.stringify({ email, password: PASSWORD, role: 'admin' }), 400, 'ERR_VALIDATION'],
    ['a missing field', '/auth/login', JSON.stringify({ email }), 400, 'ERR_VALIDATION'],
    [
      'an operator object for the email',
      '/auth/login',
      JSON.stringify({ email: { $ne: null }, password: PASSWORD }),
      400,
      'ERR_VALIDATION',
    ],
    ['an operator object for the password', '/auth/login', JSON.stringify({ email, password: { $gt: '' } }), 400, 'ERR_VALIDATION'],
    ['an operator object for the refresh token', '/auth/refresh', JSON.stringify({ refreshToken: { $ne: null } }), 400, 'ERR_VALIDATION'],
    ['an array where a string belongs', '/auth/register', JSON.stringify({ email: [email], password: PASSWORD }), 400, 'ERR_VALIDATION'],
    ['a number where a string belongs', '/auth/logout', JSON.stringify({ refreshToken: 42 }), 400, 'ERR_VALIDATION'],
    [
      'a __proto__ key',
      '/auth/register',
      `{"email":"${email}","password":"${PASSWORD}","__proto__":{"role":"admin"}}`,
      400,
      'ERR_FORBIDDEN_KEY',
    ],
    [
      'a constructor.prototype key',
      '/auth/login',
      `{"email":"${email}","password":"x","constructor":{"prototype":{"x":1}}}`,
      400,
      'ERR_FORBIDDEN_KEY',
    ],
    ['a body over the 8 KiB limit', '/auth/login', JSON.stringify({ email, password: 'x'.repeat(9000) }), 413, 'ERR_PAYLOAD_TOO_LARGE'],
    [
      'a password longer than 128 characters at registration',
      '/auth/register',
      JSON.stringify({ email, password: 'x'.repeat(129) }),
      400,
      'ERR_VALIDATION',
    ],
    [
      'a password longer than 128 characters at login',
      '/auth/login',
      JSON.stringify({ email, password: 'x'.repeat(129) }),
      400,
      'ERR_VALIDATION',
    ],
    ['a password shorter than 8 characters', '/auth/register', JSON.stringify({ email, password: 'short1!' }), 400, 'ERR_VALIDATION'],
    ['a common password', '/auth/register', JSON.stringify({ email, password: 'password123' }), 400, 'AUTH_ERR_WEAK_PASSWORD'],
    ['a common password in other case', '/auth/register', JSON.stringify({ email, password: 'QwertyUIOP' }), 400, 'AUTH_ERR_WEAK_PASSWORD'],
    [
      'an email without a domain',
      '/auth/register',
      JSON.stringify({ email: 'someone@', password: PASSWORD }),
      400,
      'AUTH_ERR_INVALID_EMAIL',
    ],
    [
      'an email with a space inside',
      '/auth/register',
      JSON.stringify({ email: 'some one@example.com', password: PASSWORD }),
      400,
      'AUTH_ERR_INVALID_EMAIL',
    ],
    [
      'an email longer than 254 characters',
      '/auth/register',
      JSON.stringify({ email: `${'a'.repeat(60)}@${'b'.repeat(200)}.com`, password: PASSWORD }),
      400,
      'ERR_VALIDATION',
    ],
  ];

  it.each(cases)('when the body has %s, then %s answers its 4xx with a code and no stack', async (_what, url, payload, status, code) => {
    const res = await send(url, payload);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ code, message: expect.any(String) });
    expect(res.body).not.toMatch(STACK);
  });

  it.each([
    ['text/plain', 'some text'],
    ['application/x-www-form-urlencoded', 'email=a%40b.co&password=x'],
    ['multipart/form-data; boundary=x', '--x--'],
  ])('when the content type is %s, then 415', async (type, payload) => {
    const res = await send('/auth/login', payload, { 'content-type': type });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({ code: 'ERR_UNSUPPORTED_MEDIA_TYPE', message: expect.any(String) });
  });

  it('when a password has 128 characters, some outside the BMP, then it is accepted: the limit counts characters, not bytes', async () => {
    const res = await postJson(app, '/auth/register', { email: uniqueEmail(), password: `${'🔑'.repeat(64)}${'k'.repeat(64)}` });
    expect(res.statusCode).toBe(201);
  });

  it('when any of the refused bodies was sent, then no account was stored for it', async () => {
    expect(await users().countDocuments({ email: { $in: [email, 'someone@', 'some one@example.com'] } })).toBe(0);
  });

  it('when a query operator is sent as the email at login, then it never reaches the database as a filter', async () => {
    // The account exists; `{ "$ne": null }` would match it if it were passed through.
    const res = await postJson(app, '/auth/login', { email: { $ne: null }, password: PASSWORD });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('accessToken');
  });
});
