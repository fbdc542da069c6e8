/** True for MongoDB's duplicate-key error (E11000), which FerretDB reports the same way. */
export const isDuplicateKey = (err: unknown): boolean => (err as { code?: number } | null)?.code === 11000;
