// `ratchet accept` end to end: the built CLI on a search held for review, written with the real
// journal writer in a temporary git repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { journalPath } from '../../src/engine/journal/store';
import { makeRepo, QUADRATIC_SCRIPT, runCli } from '../helpers';
import { HELD_SEARCH_ID, SUSPECT_REASON, writeHeldSearch } from '../helpers/heldSearch';

test('a suspect result is shown as held for review everywhere, and once accepted it is kept and the best', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);

  const log = await runCli(repo, ['log']);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /val_loss is self-reported: the task names no evaluation function, so the value is what the script printed — see README \(marked \*\)/);
  assert.equal(log.stdout.match(/is self-reported/g)?.length, 1, 'said once');
  assert.match(log.stdout, /★e1\s+e0\s+kept\s+0\.0100 \*/);
  assert.match(log.stdout, / e2\s+e1\s+suspect\s+1\.000e-4 \*.*held for review: a gain of 0\.15/);
  assert.match(log.stdout, /held for review: e2 — review with `ratchet show e2`, accept with `ratchet accept e2`/);

  const status = await runCli(repo, ['status']);
  assert.match(status.stdout, /3 \(1 held for review\)/);
  assert.match(status.stdout, /val_loss: e1 0\.0100 −0\.1506 \(self-reported\)/);

  const show = await runCli(repo, ['show', 'e2']);
  assert.match(show.stdout, /^e2 · suspect · LR 0\.2 -> 0\.1$/m);
  assert.match(show.stdout, new RegExp(`verdict: suspect — held for review: ${SUSPECT_REASON}`));
  assert.match(show.stdout, /model review \(test:auditor\): flag — the loss is lower than the data allows/);
  assert.match(show.stdout, /accept it with `ratchet accept e2` after reviewing the patch/);
  assert.match(show.stdout, /run seed 0: 0\.0001 \(self-reported: printed by the script\)/);
  assert.match(show.stdout, /\+LR = 0\.1/);

  // Not yet kept: apply says why and what to do.
  const early = await runCli(repo, ['apply', 'e2']);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /e2 is held for review.*\n.*ratchet accept e2/);

  const accepted = await runCli(repo, ['accept', 'e2', '--reason', 'LR 0.1 is the optimum of this quadratic']);
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.match(accepted.stdout, /Accepted e2 \(LR 0\.2 -> 0\.1\): kept, val_loss 1\.000e-4 −0\.0099 vs e1 \(self-reported\)\./);
  assert.match(accepted.stdout, /It is now the best\. Apply it to your working tree with `ratchet apply e2`\./);
  const records = readJournal(journalPath(repo, HELD_SEARCH_ID)).records;
  const record = records[records.length - 1]!;
  assert.equal(record.type, 'accepted');
  assert.deepEqual({ ...record, at: '' }, { type: 'accepted', at: '', id: 'e2', by: 'cli', reason: 'LR 0.1 is the optimum of this quadratic' });

  const logAfter = await runCli(repo, ['log']);
  assert.match(logAfter.stdout, /★e2\s+e1\s+kept \(accepted\)\s+1\.000e-4 \*\s+−0\.0099\s+LR 0\.2 -> 0\.1 — accepted by cli on \d{4}-\d\d-\d\d \d\d:\d\d: LR 0\.1 is the optimum/);
  assert.match(logAfter.stdout, / e1\s+e0\s+kept\s/);
  assert.doesNotMatch(logAfter.stdout, /held for review: e2/);
  const statusAfter = await runCli(repo, ['status']);
  assert.doesNotMatch(statusAfter.stdout, /held for review/);
  assert.match(statusAfter.stdout, /val_loss: e2 1\.000e-4/);
  const showAfter = await runCli(repo, ['show', 'e2']);
  assert.match(showAfter.stdout, /^e2 · kept \(accepted\) · /m);
  assert.match(showAfter.stdout, /verdict: better by 0\.0099 \(> 0\.0020 noise margin\); held for review, then accepted by cli on .*: LR 0\.1 is the optimum/);
  assert.doesNotMatch(showAfter.stdout, /ratchet accept e2/);

  // Kept now: it applies like any kept result.
  const applied = await runCli(repo, ['apply', 'e2']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(readFileSync(path.join(repo, 'train.py'), 'utf8'), /^LR = 0\.1$/m);
});

test('accepting what was not held for review is refused with what to do instead', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);
  const journal = journalPath(repo, HELD_SEARCH_ID);
  const before = readFileSync(journal, 'utf8');

  const discarded = await runCli(repo, ['accept', 'e3']);
  assert.equal(discarded.code, 1);
  assert.match(discarded.stderr, /experiment e3 was not held for review \(discarded: not better than e1\); only a suspect result can be accepted/);
  assert.match(discarded.stderr, /→ held for review in this search: e2 \(see `ratchet show e2`\)/);

  const kept = await runCli(repo, ['accept', 'e1']);
  assert.equal(kept.code, 1);
  assert.match(kept.stderr, /experiment e1 is already kept.*\n.*ratchet apply e1/);

  const missing = await runCli(repo, ['accept', 'e9']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no experiment e9/);

  const noId = await runCli(repo, ['accept']);
  assert.equal(noId.code, 1);
  assert.match(noId.stderr, /accept needs an experiment id/);
  assert.equal(readFileSync(journal, 'utf8'), before, 'a refused acceptance writes nothing');

  assert.equal((await runCli(repo, ['accept', 'e2'])).code, 0);
  const twice = await runCli(repo, ['accept', 'e2']);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /experiment e2 was already accepted \(cli, /);
  assert.equal(experimentsOf(readJournal(journal).records).find((e) => e.id === 'e2')!.verdict.kind, 'kept');
});

test('values captured from the evaluation function are not marked self-reported', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo, { evaluate: 'train.py:evaluate' });
  const log = await runCli(repo, ['log']);
  assert.doesNotMatch(log.stdout, /self-reported|\*/);
  const show = await runCli(repo, ['show', 'e1']);
  assert.match(show.stdout, /run seed 0: 0\.01 \(from the evaluation function\)/);
  const status = await runCli(repo, ['status']);
  assert.doesNotMatch(status.stdout, /self-reported/);
});

test('help lists accept', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const help = await runCli(repo, ['help']);
  assert.match(help.stdout, /ratchet accept ID \[--search ID\] \[--reason TEXT\]/);
});
