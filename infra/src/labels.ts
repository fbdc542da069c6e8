/** Labels every object of the platform carries, and the one label that selects a workload's pods. */
export const PART_OF = 'taskmesh';

/** The recommended labels of a workload; `app.kubernetes.io/name` alone selects its pods. */
export function workloadLabels(name: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': PART_OF,
  };
}

/** The selector of a workload's pods: stable across releases, so it never needs to change. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name };
}

/**
 * Something NetworkPolicies can name: a set of pods. Constructs expose one per workload, so that
 * traffic rules are wired by reference rather than by repeating label strings.
 */
export interface Peer {
  /** Used in policy names. */
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
}
