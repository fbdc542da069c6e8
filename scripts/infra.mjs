#!/usr/bin/env node
// Entry point for the local infrastructure: `node scripts/infra.mjs up|down|status`.
import { DATA_DIR, InfraError, down, status, up } from './infra-lib.mjs';

const command = process.argv[2] ?? 'status';

async function main() {
  switch (command) {
    case 'up': {
      const t0 = Date.now();
      const cfg = await up();
      console.error(`[infra] up in ${((Date.now() - t0) / 1000).toFixed(1)} s: REDIS_URL=${cfg.redisUrl} KAFKA_BROKERS=${cfg.kafkaBrokers} MONGODB_URI=${cfg.mongodbUri}`);
      return 0;
    }
    case 'down': {
      const stopped = await down();
      console.error(stopped.length ? `[infra] stopped ${stopped.join(', ')}; removed ${DATA_DIR}` : '[infra] nothing was running');
      return 0;
    }
    case 'status': {
      const rows = await status();
      for (const r of rows) {
        console.log(`${r.name.padEnd(9)} ${r.where.padEnd(22)} ${r.healthy ? 'healthy' : 'DOWN   '} ${r.pid ? `pid ${r.pid}` : r.healthy ? '(not managed here)' : ''}`);
      }
      return rows.every((r) => r.healthy) ? 0 : 1;
    }
    default:
      console.error(`usage: node scripts/infra.mjs up|down|status (got "${command}")`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof InfraError ? `[infra] ${err.message}` : err);
    process.exit(1);
  },
);
