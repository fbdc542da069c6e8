import { ConfigError } from '@taskmesh/service-kit';
import { keyRingFromDir, rotateKeyDir } from '../domain/keys/signing-keys.js';

/**
 * Local key rotation for the generated keys in AUTH_KEY_DIR (`npm run rotate-keys -w
 * services/auth`): the current key becomes the previous one and a new one signs after the next
 * start. In Kubernetes keys come from a Secret instead; see docs/auth.md.
 */
async function main(): Promise<void> {
  const dir = process.env.AUTH_KEY_DIR;
  if (!dir) throw new ConfigError(['AUTH_KEY_DIR: not set']);
  const before = await keyRingFromDir(dir);
  await rotateKeyDir(dir);
  const after = await keyRingFromDir(dir);
  console.log(`auth keys in ${dir}: now signing with ${after.current.kid}; still publishing ${before.current.kid}; restart auth to apply`);
}

main().catch((err: unknown) => {
  console.error(`rotate-keys: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
