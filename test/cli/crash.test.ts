// kill -9 of the engine at random moments, many times over one search: every finished experiment
// must survive each kill unchanged, the journal must always parse, and resume must carry on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { readJournal, experimentsOf } from '../../src/engine/journal/journal';
import type { ExperimentRecord } from '../../src/engine/types';
import { exited, git, makeRepo, QUADRATIC_SCRIPT, runCli, startCli, waitFor } from '../helpers';

const KILLS = 15;

test('resume after kill -9 at random points keeps every finished experiment and never corrupts the journal', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT.replace('SLEEP = 0.0', 'SLEEP = 0.05') });
  const journalFile = () => {
    const dir = path.join(repo, '.ratchet/searches');
    const [id] = readdirSync(dir);
    return path.join(dir, id!, 'journal.jsonl');
  };
  let seen = new Map<string, ExperimentRecord>();
  let random = 12345;
  const nextDelay = () => {
    random = (random * 1103515245 + 12345) % 2 ** 31;
    return random % 800;
  };
  const finishedCount = () => {
    if (!existsSync(path.join(repo, '.ratchet/searches'))) return 0;
    try {
      return experimentsOf(readJournal(journalFile()).records).length;
    } catch {
      return 0; // settings written, journal not yet created
    }
  };

  for (let i = 0; i < KILLS; i++) {
    const exists = existsSync(path.join(repo, '.ratchet/searches'));
    const args = exists ? ['search', '--resume'] : ['search', 'train.py', '--parallel', '2', '--repeats', '2'];
    const child = startCli(repo, args);
    // Whatever the machine's speed: let at least one more experiment finish, then strike at a
    // random moment after it (mid-run, mid-commit, mid-write).
    const before = seen.size;
    await waitFor(() => finishedCount() > before || child.exitCode !== null, 60_000, 'an experiment to finish');
    await new Promise((r) => setTimeout(r, nextDelay()));
    child.kill('SIGKILL');
    await exited(child);

    if (!existsSync(path.join(repo, '.ratchet/searches'))) continue; // killed before the search existed
    const journal = readJournal(journalFile());
    const now = new Map(experimentsOf(journal.records).map((e) => [e.id, e]));
    for (const [id, before] of seen) {
      assert.deepEqual(now.get(id), before, `experiment ${id} changed or vanished after kill ${i + 1}`);
    }
    seen = now;
  }

  const final = await runCli(repo, ['search', '--resume', '--max-runs', '3']);
  assert.equal(final.code, 0, final.stderr);
  const { records, tornBytes } = readJournal(journalFile());
  assert.equal(tornBytes, 0);
  const finished = experimentsOf(records);
  for (const [id, before] of seen) assert.deepEqual(finished.find((e) => e.id === id), before);
  // Everything ever started was closed with a verdict, and no experiment was recorded twice.
  const started = new Set(records.flatMap((r) => (r.type === 'experiment-started' ? [r.id] : [])));
  const closed = records.flatMap((r) => (r.type === 'experiment' ? [r.experiment.id] : []));
  assert.equal(new Set(closed).size, closed.length, 'an experiment was recorded twice');
  for (const id of started) assert.ok(closed.includes(id), `experiment ${id} was started but never closed`);
  assert.ok(finished.some((e) => e.id === 'e0' && e.verdict.kind === 'baseline'));
  assert.ok(finished.length >= KILLS, `only ${finished.length} experiments finished over ${KILLS} kills`);
  // No worktree or lock is left behind.
  assert.equal(git(repo, 'worktree', 'list').trim().split('\n').length, 1);
  assert.deepEqual(readdirSync(path.join(repo, '.ratchet/locks')), []);
});
