import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synth } from '../src/main.js';
import { K8S, readTree, SYNTHESIZED_DIRS } from './manifests.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'taskmesh-synth-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function synthInto(name: string): Map<string, string> {
  const dir = path.join(scratch, name);
  synth(dir);
  return readTree(dir);
}

describe('synthesis', () => {
  it('when the app is synthesized twice, then both outputs are byte for byte the same', () => {
    const first = synthInto('first');
    const second = synthInto('second');
    expect(first.size).toBeGreaterThan(10);
    expect([...second.keys()]).toEqual([...first.keys()]);
    for (const [file, text] of first) expect(second.get(file), file).toBe(text);
  });

  it('when synthesized, then the committed k8s/ equals the output (npm run synth fixes drift)', () => {
    const fresh = synthInto('drift');
    const committed = new Map<string, string>();
    for (const dir of SYNTHESIZED_DIRS) {
      for (const [file, text] of readTree(path.join(K8S, dir))) committed.set(path.join(dir, file), text);
    }
    const stale = [...committed.keys()].filter((f) => !fresh.has(f));
    const missing = [...fresh.keys()].filter((f) => !committed.has(f));
    const changed = [...fresh.keys()].filter((f) => committed.has(f) && committed.get(f) !== fresh.get(f));
    expect({ stale, missing, changed }, 'k8s/ is out of date: run `npm run synth` and commit k8s/').toEqual({
      stale: [],
      missing: [],
      changed: [],
    });
  });

  it('when synthesized twice into one folder, then the second leaves every file and its modification time alone', () => {
    const dir = path.join(scratch, 'twice');
    synth(dir);
    const files = [...readTree(dir).keys()].map((f) => path.join(dir, f));
    const past = new Date('2001-02-03T04:05:06Z');
    for (const file of files) fs.utimesSync(file, past, past);
    const stale = path.join(dir, 'laptop', '99-removed-chart.yaml');
    fs.writeFileSync(stale, 'kind: ConfigMap\n');
    const edited = files.find((f) => f.endsWith(path.join('laptop', '00-namespace.yaml')))!;
    const original = fs.readFileSync(edited, 'utf8');
    fs.writeFileSync(edited, `${original}# hand edit\n`);
    fs.utimesSync(edited, past, past);
    synth(dir);
    const moved = files.filter((f) => f !== edited && fs.statSync(f).mtimeMs !== past.getTime());
    expect(moved, 'files rewritten although unchanged (skaffold dev would redeploy)').toEqual([]);
    expect(fs.readFileSync(edited, 'utf8')).toBe(original);
    expect(fs.statSync(edited).mtimeMs).not.toBe(past.getTime());
    expect(fs.existsSync(stale)).toBe(false);
  });

  it('when synthesized, then nothing in the output depends on time or chance', () => {
    const text = [...synthInto('scan').values()].join('\n');
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    expect(text).not.toMatch(/creationTimestamp/);
  });
});
