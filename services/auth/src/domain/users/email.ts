/** RFC 5321 limits: 254 characters in all, 64 before the @. */
export const EMAIL_MAX_LENGTH = 254;

// The WHATWG "valid email address" grammar, requiring a dot in the domain: ASCII only, no quoted
// local parts or IP literals, which no real sign-up needs and which complicate every comparison.
const EMAIL = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Trimmed and lower-cased: the one form stored, compared and used as the shard key. */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Checks an already normalized address. */
export function isValidEmail(email: string): boolean {
  return email.length <= EMAIL_MAX_LENGTH && EMAIL.test(email);
}
