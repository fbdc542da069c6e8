import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ACCESS_TOKEN_ALG, type SigningKey } from '@taskmesh/access-token';
import { ConfigError } from '@taskmesh/service-kit';
import { calculateJwkThumbprint, exportJWK, type JSONWebKeySet, type JWK } from 'jose';

/** The key that signs, and the public keys that verifiers may meet in tokens still alive. */
export interface KeyRing {
  readonly current: SigningKey;
  /** Current first, then previous (if any): what `/.well-known/jwks.json` serves. */
  readonly jwks: JSONWebKeySet;
}

export interface KeySources {
  readonly currentPem?: string | undefined;
  readonly previousPem?: string | undefined;
  /** Used only when `currentPem` is unset. */
  readonly keyDir?: string | undefined;
}

const CURRENT_FILE = 'current.pem';
const PREVIOUS_FILE = 'previous.pem';

/** A fresh Ed25519 private key as PKCS#8 PEM, the format AUTH_SIGNING_KEY_* hold. */
export function generateSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function parsePrivateKey(pem: string, name: string): KeyObject {
  let key: KeyObject;
  try {
    // Secrets mounted as env values sometimes arrive with escaped newlines.
    key = createPrivateKey({ key: pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem, format: 'pem' });
  } catch {
    throw new ConfigError([`${name}: not a PEM private key`]);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError([`${name}: must be an Ed25519 key (got ${key.asymmetricKeyType ?? 'unknown'})`]);
  }
  return key;
}

/** The public JWK of a private key, with `kid` = its RFC 7638 thumbprint, so equal keys get equal ids. */
export async function publicJwk(privateKey: KeyObject): Promise<JWK> {
  const jwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' };
}

/** Builds the key ring from PEM text; `previous` equal to `current` is published once. */
export async function keyRingFromPem(currentPem: string, previousPem?: string): Promise<KeyRing> {
  const current = parsePrivateKey(currentPem, 'AUTH_SIGNING_KEY_CURRENT');
  const currentJwk = await publicJwk(current);
  const keys = [currentJwk];
  if (previousPem) {
    const previousJwk = await publicJwk(parsePrivateKey(previousPem, 'AUTH_SIGNING_KEY_PREVIOUS'));
    if (previousJwk.kid !== currentJwk.kid) keys.push(previousJwk);
  }
  return { current: { kid: currentJwk.kid!, privateKey: current }, jwks: { keys } };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads `current.pem` (and `previous.pem`) from a local folder, generating the current key on the
 * first start. Creation is exclusive, so two processes starting together agree on one key.
 */
export async function keyRingFromDir(dir: string): Promise<KeyRing> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const currentFile = path.join(dir, CURRENT_FILE);
  let current = await readIfExists(currentFile);
  if (current === undefined) {
    const pem = generateSigningKeyPem();
    try {
      await fs.writeFile(currentFile, pem, { flag: 'wx', mode: 0o600 });
      current = pem;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      current = await fs.readFile(currentFile, 'utf8');
    }
  }
  return keyRingFromPem(current, await readIfExists(path.join(dir, PREVIOUS_FILE)));
}

/**
 * Local rotation: the current key becomes the previous one (still published) and a new current
 * key is generated; the key that was previous is dropped. Restart the service to apply it.
 */
export async function rotateKeyDir(dir: string): Promise<void> {
  const currentFile = path.join(dir, CURRENT_FILE);
  await keyRingFromDir(dir);
  const next = path.join(dir, `${CURRENT_FILE}.next`);
  await fs.writeFile(next, generateSigningKeyPem(), { mode: 0o600 });
  await fs.rename(currentFile, path.join(dir, PREVIOUS_FILE));
  await fs.rename(next, currentFile);
}

/** Keys from configuration: the PEM values when set, else the local key folder. */
export async function loadKeyRing(sources: KeySources): Promise<KeyRing> {
  if (sources.currentPem) return keyRingFromPem(sources.currentPem, sources.previousPem);
  if (sources.previousPem) throw new ConfigError(['AUTH_SIGNING_KEY_PREVIOUS: set without AUTH_SIGNING_KEY_CURRENT']);
  if (sources.keyDir) return keyRingFromDir(sources.keyDir);
  throw new ConfigError(['AUTH_SIGNING_KEY_CURRENT: not set (set it, or AUTH_KEY_DIR for locally generated keys)']);
}
