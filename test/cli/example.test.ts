// The bundled example, for real: its training script under the built-in tune proposer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { git, REPO, runCli, tempDir } from '../helpers';

test('a short tune search on the example runs the real training script and records every run', async (t) => {
  const repo = tempDir(t);
  cpSync(path.join(REPO, 'examples/charlm'), repo, { recursive: true, filter: (src) => !src.includes('__pycache__') });
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'example');

  const r = await runCli(repo, ['search', 'train.py', '--parallel', '2', '--max-runs', '4']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Baseline val_bpb \d\.\d+ ± /);
  assert.match(r.stdout, /reached 4 experiments/);

  const [id] = readdirSync(path.join(repo, '.ratchet/searches'));
  const exps = experimentsOf(readJournal(path.join(repo, '.ratchet/searches', id!, 'journal.jsonl')).records);
  const baseline = exps.find((e) => e.id === 'e0')!;
  assert.equal(baseline.runs.length, 3);
  assert.ok(baseline.mean! > 2 && baseline.mean! < 5, `baseline val_bpb ${baseline.mean}`);
  assert.ok(baseline.spread! > 0, 'different seeds must give different results');
  const tried = exps.filter((e) => e.id !== 'e0');
  assert.equal(tried.length, 4);
  for (const e of tried) {
    assert.equal(e.proposer, 'tune');
    assert.match(e.patch, /^[-+][A-Z_]+ = /m, 'tune changes ALL_CAPS constants');
    assert.ok(['kept', 'discarded', 'failed'].includes(e.verdict.kind), `${e.id}: ${JSON.stringify(e.verdict)}`);
  }
  // The data the example evaluates on is protected and was never part of a patch.
  assert.ok(tried.every((e) => !/data\//.test(e.patch)));
});
