import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestIssuer } from '@taskmesh/access-token/testing';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventDigest } from '../src/domain/stats/stats-repository.js';
import type { Config } from '../src/config.js';
import { type AnalyticsHarness, TestProducer, analyticsHarness, expectStatsToMatch, metricValue } from './harness.js';
import { mixedWorkload } from './workload.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

interface CrashReport {
  eventId: string;
  userId: string;
  topic: string;
  partition: number;
  offset: string;
  applied: number;
}

/** Runs the crashing consumer in its own process and waits for it to be killed. */
function runCrashingConsumer(config: Config, crashAfter: number): Promise<{ signal: NodeJS.Signals | null; report: CrashReport }> {
  const reportFile = path.join(os.tmpdir(), `analytics-crash-${config.KAFKA_GROUP_ID}.json`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CRASH_AFTER_APPLIED: String(crashAfter),
    CRASH_REPORT_FILE: reportFile,
    TSX_TSCONFIG_PATH: 'services/analytics/tsconfig.tsx.json',
  };
  for (const [k, v] of Object.entries(config)) env[k] = String(v);
  // One process (tsx as a loader, not its CLI, which would run the script in a child of its own),
  // so that the kill is seen here as the signal it is.
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/analytics/test/fixtures/crashing-consumer.ts'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the crashing consumer did not crash within 90 s\n${stderr}`));
    }, 90_000);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      try {
        resolve({ signal, report: JSON.parse(readFileSync(reportFile, 'utf8')) as CrashReport });
      } catch (err) {
        reject(new Error(`no crash report (${(err as Error).message})\n${stderr}`));
      }
    });
  });
}

describe('a consumer that crashes between storing an effect and committing its offset', () => {
  let h: AnalyticsHarness;
  let issuer: TestIssuer;
  let config: Config;
  let producer: TestProducer;
  let app: FastifyInstance | undefined;
  const workload = mixedWorkload({ users: 12, events: 300, seed: 11 });

  beforeAll(async () => {
    h = await analyticsHarness({ app: false });
    ({ issuer, config, producer } = h);
  });
  afterAll(() => h?.close());

  it('when a new member of the group takes over, then the redelivered messages are recognised and nothing is counted twice', async () => {
    await producer.ensureTopics();
    await producer.send(workload.events);
    const { signal, report } = await runCrashingConsumer(config, 120);
    expect(signal).toBe('SIGKILL');

    // The state the crash left: the effect is stored, the offset is not committed.
    const admin = producer.kafka.admin();
    await admin.connect();
    const [committed] = await admin
      .fetchOffsets({ groupId: config.KAFKA_GROUP_ID, topics: [report.topic] })
      .finally(() => admin.disconnect());
    const position = committed!.partitions.find((p) => p.partition === report.partition)!;
    expect(BigInt(position.offset)).toBeLessThanOrEqual(BigInt(report.offset));
    const mongo = new MongoClient(config.MONGODB_URI);
    try {
      const doc = await mongo
        .db(config.MONGODB_DB)
        .collection<{ _id: string; appliedIds: string[] }>('user_stats')
        .findOne({ _id: report.userId });
      expect(doc?.appliedIds).toContain(eventDigest(report.eventId));
    } finally {
      await mongo.close();
    }

    app = await h.start();
    await producer.drained(config);

    await expectStatsToMatch(app, issuer, workload.reference);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'redelivered' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'duplicate' })).toBe(0);
    expect(await metricValue(app, 'analytics_events_processed_total', { outcome: 'applied' })).toBeLessThanOrEqual(300 - report.applied);
  });
});
