import { COMMON_PASSWORDS } from './common-passwords.js';

/** Bounds on a password's length in characters (code points); the upper one caps hashing work. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

const common: ReadonlySet<string> = new Set(COMMON_PASSWORDS);

/** True when the password is on the common list, whatever its case. */
export function isCommonPassword(password: string): boolean {
  return common.has(password.toLowerCase());
}
