import { readFileSync } from 'node:fs';

/** Bounds on a password's length in characters (code points); the upper one caps hashing work. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

// The same relative path from src/ and from dist/; `data` ships beside `dist` in the image.
const LIST_URL = new URL('../../../data/common-passwords.txt', import.meta.url);

let common: ReadonlySet<string> | undefined;

/** The shipped list of the most common passwords, lower-cased, read once. */
export function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(
    readFileSync(LIST_URL, 'utf8')
      .split('\n')
      .map((line) => line.trim().toLowerCase())
      .filter((line) => line.length > 0 && !line.startsWith('#')),
  );
  return common;
}

/** True when the password is on the common list, whatever its case. */
export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.toLowerCase());
}
