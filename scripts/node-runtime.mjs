// The environment every service process starts with, read from node-runtime.env at the
// repository root (the images source the same file in their CMD).
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './infra-lib.mjs';

/** `KEY="value"` (or `KEY=value`) lines; blank lines and `#` comments are skipped. */
export function readEnvFile(file) {
  const env = {};
  for (const [i, raw] of fs.readFileSync(file, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|([^\s"]*))$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected KEY="value", got: ${line}`);
    env[m[1]] = m[2] ?? m[3];
  }
  return env;
}

/** The variables of node-runtime.env (NODE_OPTIONS). */
export const NODE_RUNTIME_ENV = readEnvFile(path.join(ROOT, 'node-runtime.env'));
