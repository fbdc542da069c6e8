#!/usr/bin/env node
// `npm run cluster:up` / `npm run cluster:down` / `node scripts/cluster.mjs status`: a Kubernetes
// control plane on this machine with KWOK's simulated nodes (scripts/cluster-lib.mjs).
//   up [--nodes N]   build once into the cache, start what is not running, print KUBECONFIG
//   down             stop everything it started and remove its data
import { InfraError, DATA_DIR } from './infra-lib.mjs';
import { down, status, up } from './cluster-lib.mjs';

const [command = 'status', ...rest] = process.argv.slice(2);

async function main() {
  switch (command) {
    case 'up': {
      const i = rest.indexOf('--nodes');
      const nodes = i >= 0 ? Number(rest[i + 1]) : 1;
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 3) {
        console.error(`[cluster] --nodes takes 1 (laptop) to 3 (ha), got "${rest[i + 1]}"`);
        return 2;
      }
      const t0 = Date.now();
      const { kubeconfig, server } = await up({ nodes });
      console.error(`[cluster] up in ${((Date.now() - t0) / 1000).toFixed(1)} s: API server ${server}, ${nodes} simulated node(s)`);
      console.log(`export KUBECONFIG=${kubeconfig}`);
      return 0;
    }
    case 'down': {
      const stopped = await down();
      console.error(stopped.length ? `[cluster] stopped ${stopped.join(', ')}; removed its data under ${DATA_DIR}` : '[cluster] nothing was running');
      return 0;
    }
    case 'status': {
      const rows = await status();
      for (const r of rows) console.log(`${r.name.padEnd(24)} ${r.where.padEnd(16)} ${r.healthy ? 'healthy' : 'DOWN   '} ${r.log}`);
      return rows.every((r) => r.healthy) ? 0 : 1;
    }
    default:
      console.error(`usage: node scripts/cluster.mjs up [--nodes 1|2|3] | down | status (got "${command}")`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof InfraError ? `[cluster] ${err.message}` : err);
    process.exit(1);
  },
);
