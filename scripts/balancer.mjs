#!/usr/bin/env node
// Operates instances behind a local haproxy started by scripts/balancer-lib.mjs.
//
//   node scripts/balancer.mjs restart <fleet.json> <server>
//
// restarts one instance as a Kubernetes rolling update does (out of the balancer, SIGTERM, drain,
// replacement on the same port, ready, back in). With `npm run rollout-check` it proves a restart
// loses no request locally:
//
//   BASE_URL=<the balancer in front of the gateways> npm run rollout-check -- \
//     --command 'node scripts/balancer.mjs restart <fleet.json> task-b'
//
// The zero-downtime test (test/zero-downtime.test.ts) writes the fleet file and runs exactly that.
import { restartBehindBalancer } from './balancer-lib.mjs';

const [cmd, fleetFile, server] = process.argv.slice(2);
if (cmd !== 'restart' || !fleetFile || !server) {
  process.stderr.write('usage: node scripts/balancer.mjs restart <fleet.json> <server>\n');
  process.exit(2);
}
restartBehindBalancer(fleetFile, server, (line) => process.stdout.write(`${line}\n`)).then(
  ({ clean }) => process.exit(clean ? 0 : 1),
  (err) => {
    process.stderr.write(`balancer restart failed: ${err.message}\n`);
    process.exit(1);
  },
);
