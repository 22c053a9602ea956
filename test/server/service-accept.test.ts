// ratchet/accept through the service: the editor's way to accept a result held for review.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJournal } from '../../src/engine/journal/journal';
import { journalPath } from '../../src/engine/journal/store';
import { RatchetService } from '../../src/server/service';
import { makeRepo, QUADRATIC_SCRIPT } from '../helpers';
import { HELD_SEARCH_ID, SUSPECT_REASON, writeHeldSearch } from '../helpers/heldSearch';

test('the service reports a held result, accepts it from the editor, and the views follow', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);
  const updates: string[] = [];
  const logs: string[] = [];
  const service = new RatchetService(() => [repo], { updated: (_id, kind) => updates.push(kind), log: (_id, text) => logs.push(text) });

  const [before] = await service.searches();
  assert.deepEqual(before!.held, [{ id: 'e2', reason: SUSPECT_REASON }]);
  assert.equal(before!.best!.id, 'e1');
  assert.equal(before!.provenance, 'self-reported');
  const e2 = (await service.experiments({ searchId: HELD_SEARCH_ID })).find((e) => e.id === 'e2')!;
  assert.equal(e2.status, 'suspect');
  assert.equal(e2.reason, SUSPECT_REASON);
  assert.equal(e2.review?.verdict, 'flag');
  assert.equal(e2.provenance, 'self-reported');

  const result = await service.acceptExperiment({ searchId: HELD_SEARCH_ID, experimentId: 'e2', reason: 'reviewed' });
  assert.equal(result.isBest, true);
  assert.equal(result.experiment.status, 'kept');
  assert.equal(result.experiment.isBest, true);
  assert.equal(result.experiment.accepted?.by, 'editor');
  assert.ok(updates.includes('accepted'), 'the views are told to refresh');
  assert.ok(logs.some((l) => l === 'e2 accepted after review (new best): reviewed'), logs.join('\n'));
  const records = readJournal(journalPath(repo, HELD_SEARCH_ID)).records;
  assert.deepEqual({ ...records[records.length - 1]!, at: '' }, { type: 'accepted', at: '', id: 'e2', by: 'editor', reason: 'reviewed' });

  const [after] = await service.searches();
  assert.equal(after!.held, undefined);
  assert.equal(after!.best!.id, 'e2');
  // Accepted, it is kept: the merge plan the editor asks for is served.
  const plan = await service.mergePlan({ searchId: HELD_SEARCH_ID, experimentId: 'e2' });
  assert.match(plan.patch, /\+LR = 0\.1/);
});

test('the service refuses to accept what was not held for review, with the reason', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);
  const service = new RatchetService(() => [repo], { updated: () => undefined, log: () => undefined });
  await assert.rejects(service.acceptExperiment({ searchId: HELD_SEARCH_ID, experimentId: 'e3' }), /e3 was not held for review \(discarded: not better than e1\)/);
  await assert.rejects(service.acceptExperiment({ searchId: 'nope', experimentId: 'e2' }), /no search named nope/);
});
