#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm dependencies when they are missing or stale, then
// builds every workspace with `tsc -b` (incremental: a no-op when nothing changed).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinnedVersion } from './install-node.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`[bootstrap] ${msg}\n`);

function step(label, cmd, args) {
  const t0 = Date.now();
  say(`${label}...`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    say(`${label} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
  say(`${label}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  say(`Node.js ${process.versions.node} is too old: 20.19 or newer is needed`);
  process.exit(1);
}

const pinned = pinnedVersion();
if (process.versions.node.split('.')[0] !== pinned.split('.')[0]) {
  say(
    `note: Node.js ${process.versions.node} runs this; the images and CI run ${pinned} (.node-version). ` +
      'For the same runtime here: export PATH="$(node scripts/install-node.mjs):$PATH"',
  );
}

const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const stale = !fs.existsSync(installed) || fs.statSync(lock).mtimeMs > fs.statSync(installed).mtimeMs;
if (stale) step('installing npm dependencies (npm ci)', 'npm', ['ci', '--no-audit', '--no-fund']);
step('building workspaces (tsc -b)', path.join(root, 'node_modules', '.bin', 'tsc'), ['-b']);
