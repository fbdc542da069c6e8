import { ensureKubeBuilt } from '../../../scripts/cluster-lib.mjs';

/**
 * Starts building the control plane into the cache (a no-op when it is there) without waiting
 * for it: the build runs while the other projects test, and the cluster tests wait for it.
 */
export default function setup(): void {
  ensureKubeBuilt().catch((err: Error) => process.stderr.write(`[cluster] background build failed: ${err.message}\n`));
}
