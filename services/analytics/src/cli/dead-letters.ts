#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Type } from '@sinclair/typebox';
import { deadLetterTopic, retryTopic } from '@taskmesh/events';
import { ConfigError, loadConfig } from '@taskmesh/service-kit';
import { EventProducer, createKafka } from '@taskmesh/kafka';
import { ConfigSchema } from '../config.js';
import { readDeadLetters, replayDeadLetters, type DeadLetter, type ReplaySelection } from '../events/dead-letters.js';

const USAGE = `usage: dead-letters list
       dead-letters replay (--all | --id <event id> ... | --at <partition>:<offset> ...)

Lists the analytics dead-letter topic (<group>.dlq), or publishes the chosen dead letters to the
retry topic (<group>.retry), which the service consumes. Replaying an event already applied
changes nothing. Output: one JSON object per dead letter.

environment: KAFKA_BROKERS (default 127.0.0.1:9092), KAFKA_GROUP_ID (default analytics)`;

const CliConfigSchema = Type.Pick(ConfigSchema, ['KAFKA_BROKERS', 'KAFKA_GROUP_ID']);

/** What is printed per dead letter: the payload as text, since a poison message may not be JSON. */
function describe(l: DeadLetter): Record<string, unknown> {
  return {
    partition: l.partition,
    offset: l.offset,
    eventId: l.eventId ?? null,
    eventType: l.eventType ?? null,
    key: l.key,
    kind: l.kind,
    reason: l.reason,
    attempts: l.attempts,
    originalTopic: l.originalTopic,
    originalPartition: l.originalPartition,
    originalOffset: l.originalOffset,
    deadLetteredAt: l.deadLetteredAt,
    value: l.value?.toString('utf8').slice(0, 2000) ?? null,
  };
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      all: { type: 'boolean', default: false },
      id: { type: 'string', multiple: true, default: [] },
      at: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || (command !== 'list' && command !== 'replay')) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const bad = values.at.find((a) => !/^\d+:\d+$/.test(a));
  if (bad) {
    process.stderr.write(`--at takes <partition>:<offset>, got ${JSON.stringify(bad)}\n`);
    return 2;
  }

  const config = loadConfig(CliConfigSchema);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()), clientId: 'analytics-dead-letters' });
  const topics = { deadLetters: deadLetterTopic(config.KAFKA_GROUP_ID), retry: retryTopic(config.KAFKA_GROUP_ID) };

  if (command === 'list') {
    const letters = await readDeadLetters(kafka, topics.deadLetters);
    for (const l of letters) process.stdout.write(`${JSON.stringify(describe(l))}\n`);
    process.stderr.write(`${letters.length} dead letter(s) on ${topics.deadLetters}\n`);
    return 0;
  }

  const selection: ReplaySelection = { all: values.all, eventIds: values.id, positions: values.at };
  if (!selection.all && values.id.length === 0 && values.at.length === 0) {
    process.stderr.write('replay needs --all, --id or --at\n');
    return 2;
  }
  const producer = new EventProducer(kafka);
  try {
    const replayed = await replayDeadLetters(kafka, producer, topics, selection);
    for (const l of replayed) process.stdout.write(`${JSON.stringify(describe(l))}\n`);
    process.stderr.write(`${replayed.length} dead letter(s) replayed to ${topics.retry}\n`);
    return 0;
  } finally {
    await producer.disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`dead-letters: ${err.message}\n`);
    else process.stderr.write(`dead-letters: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
