import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RatchetService } from '../../src/server/service';
import { findingsInBaseline } from '../../src/server/views';
import { cumulativePatch } from '../../src/engine/inspect';
import { fixtureRepo, type FixtureRepo } from '../helpers/fixture';

describe('RatchetService on a replayed search', () => {
  let repo: FixtureRepo;
  let service: RatchetService;
  const updates: string[] = [];
  const logs: string[] = [];
  let searchId = '';

  before(async () => {
    repo = fixtureRepo({ without: ['04-train-longer.patch'] });
    service = new RatchetService(() => [repo.root], {
      updated: (_id, kind) => updates.push(kind),
      log: (_id, text) => logs.push(text),
    });
    const info = await service.startSearch({ file: path.join(repo.root, 'train.py'), proposer: 'replay', patches: path.join(repo.root, 'patches') });
    searchId = info.id;
    assert.equal(info.running, true);
    // The search ends by itself once the replay proposer runs out of patches.
    while ((await service.searches()).find((s) => s.id === searchId)?.running) await new Promise((r) => setTimeout(r, 100));
  });

  after(() => repo.cleanup());

  test('reports every experiment with its verdict, delta to parent and audit', async () => {
    const exps = await service.experiments({ searchId });
    assert.deepEqual(
      exps.map((e) => [e.id, e.status]),
      [['e0', 'baseline'], ['e1', 'kept'], ['e2', 'flagged'], ['e3', 'discarded']],
    );
    const e1 = exps[1]!;
    assert.ok(e1.delta! < 0, 'the kept experiment lowers the loss');
    assert.equal(e1.isBest, true);
    const hack = exps[2]!.audit.find((a) => a.severity === 'hack')!;
    assert.equal(hack.file, 'train.py');
    assert.equal(hack.line, 26);
  });

  test('lists the search as stopped, with the best and the run count', async () => {
    const [s] = await service.searches();
    assert.equal(s!.id, searchId);
    assert.equal(s!.running, false);
    assert.equal(s!.best!.id, 'e1');
    assert.equal(s!.flagged, 1);
    assert.ok(s!.runs >= 5);
    assert.ok(updates.includes('experiment-finished') && updates.includes('stopped'));
    assert.ok(logs.some((l) => l.includes('e2 flagged') && l.includes('train.py:26')));
    // The run's own output streams into the log as it runs.
    assert.ok(logs.some((l) => /^\[e1-s0\] val_loss: [\d.]+$/.test(l)), logs.join('\n'));
  });

  test('places the flagged line on the user file where the hack would go', async () => {
    const { repoRoot, view } = await service.locate(searchId);
    const e2 = view.experiments.find((e) => e.id === 'e2')!;
    const placed = findingsInBaseline(e2, 'train.py', await cumulativePatch(repoRoot, view, e2));
    assert.equal(placed.length, 1);
    assert.equal(placed[0]!.line, 25); // 0-based: line 26
    assert.match(placed[0]!.message, /suspected reward hack in e2 .*literal value for val_loss.*print\("val_loss: 0.5"\)/);
  });

  test('serves both sides of a review and a merge plan from the baseline', async () => {
    const diff = await service.experimentDiff({ searchId, experimentId: 'e1', against: 'parent' });
    assert.equal(diff.leftId, 'e0');
    assert.match(diff.title, /e0 ↔ e1: Double the learning rate · val_loss/);
    const before = await service.fileAt({ searchId, experimentId: 'baseline', file: 'train.py' });
    const afterText = await service.fileAt({ searchId, experimentId: 'e1', file: 'train.py' });
    assert.match(before, /LEARNING_RATE = 0.1/);
    assert.match(afterText, /LEARNING_RATE = 0.2/);
    const plan = await service.mergePlan({ searchId, experimentId: 'e1' });
    assert.equal(plan.result, afterText);
    assert.match(plan.patch, /\+LEARNING_RATE = 0.2/);
  });

  test('refuses to merge what was not kept, with the reason', async () => {
    await assert.rejects(service.mergePlan({ searchId, experimentId: 'e2' }), /was not kept \(flagged\)/);
  });

  test('returns the run log of an experiment', async () => {
    assert.match(await service.runLog({ searchId, experimentId: 'e1' }), /val_loss: /);
  });

  test('stopping a search that is not running here says how to stop it', async () => {
    await assert.rejects(service.stopSearch({ searchId }), /not running in this window/);
  });
});

describe('RatchetService stop and resume', () => {
  test('stop cancels the running experiment and resume carries on from the journal', async () => {
    const repo = fixtureRepo({ without: ['02-report-simply.patch', '03-narrower.patch'] });
    try {
      const service = new RatchetService(() => [repo.root], { updated: () => undefined, log: () => undefined });
      const info = await service.startSearch({ file: path.join(repo.root, 'train.py'), proposer: 'replay', patches: path.join(repo.root, 'patches') });
      // e2 sleeps for minutes: wait until it is running, then stop.
      while (!(await service.experiments({ searchId: info.id })).some((e) => e.id === 'e2' && e.status === 'running')) await new Promise((r) => setTimeout(r, 100));
      const stopped = await service.stopSearch({ searchId: info.id });
      assert.equal(stopped.running, false);
      assert.equal(stopped.stoppedBecause, 'stopped by the user');
      const exps = await service.experiments({ searchId: info.id });
      assert.deepEqual(exps.map((e) => e.status), ['baseline', 'kept', 'cancelled']);
      const resumed = await service.resumeSearch({ searchId: info.id });
      assert.equal(resumed.running, true);
      await service.stopAll();
      assert.equal((await service.searches())[0]!.running, false);
    } finally {
      repo.cleanup();
    }
  });
});
