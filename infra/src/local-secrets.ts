/**
 * LOCAL PLACEHOLDERS, NOT SECRETS. These values exist so that a kind cluster starts with nothing
 * to prepare; they are public (they are in this repository) and must never reach a cluster that
 * holds real data. Every Secret built from them carries the annotation
 * `taskmesh.dev/placeholder: "true"`; replace them (e.g. with sealed or external secrets) anywhere
 * else.
 */
export const LOCAL_PLACEHOLDER_SECRETS = {
  /** Ed25519 PKCS#8 keys signing access tokens: the current one, and the one before it. */
  authSigningKeyCurrent:
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBbXdQknaQM1WJqWTcttrne7VOlY6yza6hmM8ly6KIaq\n-----END PRIVATE KEY-----\n',
  authSigningKeyPrevious:
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIE2OfcUuBTkV6yvDZAHpI65fF7QAB35TJQza6nV8rung\n-----END PRIVATE KEY-----\n',
  /** Signs the task service's list cursors. */
  taskCursorSecret: 'kind-placeholder-cursor-secret-5LLzLK8W0QgaL11jy_B8zWoMzbsCWcBG',
  /** Grafana's admin login. */
  grafanaAdminUser: 'admin',
  grafanaAdminPassword: 'kind-placeholder-admin',
} as const;

/** Annotation marking a Secret whose values are the public placeholders above. */
export const PLACEHOLDER_ANNOTATION = { 'taskmesh.dev/placeholder': 'true' } as const;
