// Types of scripts/kube-tools.mjs for the TypeScript tests and tools that import it.

/** The npm package whose lib/layer.zip holds helm and kubectl, pinned with its integrity. */
export const KUBE_TOOLS_PACKAGE: { readonly name: string; readonly version: string; readonly integrity: string };
export const HELM_VERSION: string;
export const KUBECTL_VERSION: string;
/** `$TASKMESH_CACHE_DIR/kube-tools-<version>`, holding `helm` and `kubectl`. */
export const KUBE_TOOLS_DIR: string;

export class KubeToolsError extends Error {}

/** The path of a working helm (HELM_VERSION, or TASKMESH_HELM), installed into the cache on first use. */
export function ensureHelm(): string;
/** The path of a working kubectl (KUBECTL_VERSION, or TASKMESH_KUBECTL), installed into the cache on first use. */
export function ensureKubectl(): string;
