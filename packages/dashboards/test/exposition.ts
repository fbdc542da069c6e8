/** What one `/metrics` page says about each metric family. */
export interface Family {
  readonly type: string;
  /** Label names seen on its samples (`le` for histogram buckets included). */
  readonly labels: Set<string>;
  readonly samples: number;
}

/**
 * Reads the Prometheus text format into metric families, keyed by family name (a histogram's
 * `_bucket`, `_sum` and `_count` samples count for the family).
 */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, { type: string; labels: Set<string>; samples: number }>();
  const familyOf = (sample: string) => {
    if (families.has(sample)) return families.get(sample)!;
    const base = sample.replace(/_(bucket|sum|count)$/, '');
    return families.get(base);
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1]!, { type: type[2]!, labels: new Set(), samples: 0 });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const family = familyOf(sample[1]!);
    if (!family) throw new Error(`sample ${sample[1]} has no # TYPE line`);
    family.samples++;
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) family.labels.add(m[1]!);
  }
  return families;
}
