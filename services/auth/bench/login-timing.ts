// Failed-login timing for a known and an unknown email, through the whole request path against
// the local servers: `npx tsx services/auth/bench/login-timing.ts [rounds]`. Prints medians and
// the unknown/known ratio; the lockout is raised out of the way for the run.
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@taskmesh/service-kit';
import { buildApp } from '../src/app.js';
import { ConfigSchema } from '../src/config.js';
import { generateSigningKeyPem } from '../src/domain/keys/signing-keys.js';

const rounds = Math.min(Number(process.argv[2] ?? 40), 200);
const config = loadConfig(ConfigSchema, {
  ...process.env,
  MONGODB_DB: `auth_bench_${randomUUID().slice(0, 8)}`,
  AUTH_SIGNING_KEY_CURRENT: generateSigningKeyPem(),
  LOGIN_MAX_FAILURES: String(rounds * 4),
  LOG_LEVEL: 'silent',
});
const app = await buildApp(config, { logLevel: false });
await app.ready();
const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, payload: body as object });

try {
  const known = `bench.${randomUUID().slice(0, 8)}@example.com`;
  await post('/auth/register', { email: known, password: 'a long enough passphrase' });
  const emails = { known, unknown: `nobody.${randomUUID().slice(0, 8)}@example.com` };
  const samples = { known: [] as number[], unknown: [] as number[] };
  for (let i = 0; i < 4; i++) await post('/auth/login', { email: emails.unknown, password: 'warm-up' });
  for (let i = 0; i < rounds; i++) {
    for (const kind of i % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
      const t0 = performance.now();
      const res = await post('/auth/login', { email: emails[kind], password: 'not the password' });
      samples[kind].push(performance.now() - t0);
      if (res.statusCode !== 401) throw new Error(`expected 401, got ${res.statusCode}`);
    }
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;
  for (const kind of ['known', 'unknown'] as const) {
    console.log(
      `${kind.padEnd(7)} email: p50 ${pct(samples[kind], 0.5).toFixed(1)} ms, p90 ${pct(samples[kind], 0.9).toFixed(1)} ms (${rounds} failed logins)`,
    );
  }
  console.log(`ratio unknown/known at p50: ${(pct(samples.unknown, 0.5) / pct(samples.known, 0.5)).toFixed(2)}`);
} finally {
  await app.mongo.db.dropDatabase();
  await app.close();
}
