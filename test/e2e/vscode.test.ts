// End to end in a real VS Code: a person opens the fixture workspace, starts a search on the
// training script from the command palette, watches the experiments, reviews a diff, sees the
// planted reward hack on its line, merges the kept change, stops the search and accepts a result
// held for review.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureRepo, type FixtureRepo } from '../helpers/fixture';
import { missingEnvironment, packageVsix, Workbench } from './workbench';

const missing = missingEnvironment();
if (missing && process.env.CI === 'true') {
  // In CI the environment is part of the job: its absence is a failure, not a skip.
  test('the end-to-end environment is installed', () => assert.fail(missing));
}

describe('Ratchet in a real VS Code', { skip: missing && process.env.CI !== 'true' ? missing : false, timeout: 600_000 }, () => {
  let repo: FixtureRepo;
  let bench: Workbench;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ratchet-vsix-'));
    const vsix = packageVsix(tmp);
    repo = fixtureRepo();
    bench = await Workbench.open(repo.root, vsix);
  });

  after(async () => {
    await bench?.close();
    repo?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A step of the story; when it fails, a screenshot shows what a person would have seen. */
  const step = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        await bench?.screenshot(`FAILED-${name.replace(/[^A-Za-z0-9]+/g, '-')}`).catch(() => undefined);
        throw e;
      }
    });

  const tree = () => bench.page.locator('[id="workbench.view.extension.ratchet"]');
  const row = (text: string) => tree().locator('.monaco-list-row', { hasText: text }).first();

  step('1: open the training script', async () => {
    await bench.openFile('train.py');
    await bench.page.locator('.monaco-editor .view-lines', { hasText: 'LEARNING_RATE = 0.1' }).first().waitFor();
    await bench.screenshot('01-opened-train-py');
  });

  step('2: start a search from the command palette and watch experiments appear', async () => {
    await bench.command('Ratchet: Start Search on This File');
    await row('e1 Double the learning rate').waitFor({ timeout: 120_000 });
    await row('e2 Report the loss more simply').waitFor({ timeout: 120_000 });
    await row('e3 Narrower model').waitFor({ timeout: 120_000 });
    // e4 sleeps for minutes: it stays running while the rest of the test looks around.
    await row('e4 Train for much longer').waitFor({ timeout: 120_000 });
    assert.match(await row('e1 Double').innerText(), /kept, best/);
    assert.match(await row('e2 Report').innerText(), /flagged.*⚠ hack/s);
    assert.match(await row('e3 Narrower').innerText(), /discarded/);
    await bench.page.locator('.statusbar-item', { hasText: 'Ratchet: 1 running' }).first().waitFor();
    await tree().locator('.monaco-list-row', { hasText: 'this machine · 1 running' }).first().waitFor();
    await bench.screenshot('02-experiments-tree');
  });

  step('3: the dashboard charts and tables the experiments', async () => {
    await bench.command('Ratchet: Open Dashboard');
    const frame = await bench.webviewFrame('#table tbody tr[data-id="e3"]');
    assert.equal(await frame.locator('#table tbody tr').count(), 5);
    assert.match(await frame.locator('#summary').innerText(), /running · baseline [\d.]+ · best [\d.]+ \(e1\)/);
    assert.equal(await frame.locator('#chart canvas').count(), 1);
    assert.match(await frame.locator('tr[data-id="e2"]').innerText(), /⚠ line 26/);
    // Sorting by the metric puts the flagged literal 0.5 first.
    await frame.locator('th', { hasText: 'Metric' }).click();
    assert.equal(await frame.locator('#table tbody tr').first().getAttribute('data-id'), 'e2');
    await bench.screenshot('03-dashboard');
    // A row clicks through to the experiment's diff against its parent.
    await frame.locator('tr[data-id="e3"]').click();
    await bench.page.locator('.tabs-container .tab', { hasText: 'e1 ↔ e3' }).first().waitFor({ timeout: 30_000 });
  });

  step('4: clicking an experiment opens its diff', async () => {
    await row('e1 Double the learning rate').click();
    const diff = bench.page.locator('.monaco-diff-editor').first();
    await diff.waitFor({ timeout: 30_000 });
    await bench.page.locator('.tabs-container .tab', { hasText: 'e0 ↔ e1' }).first().waitFor();
    await diff.locator('.view-lines', { hasText: 'LEARNING_RATE = 0.2' }).first().waitFor();
    await bench.screenshot('04-review-diff');
  });

  step('5: the planted reward hack is a diagnostic on its line', async () => {
    await bench.command('View: Focus Problems');
    const problems = bench.page.locator('.markers-panel');
    const hack = problems.locator('.monaco-list-row', { hasText: 'suspected reward hack in e2' }).first();
    await hack.waitFor({ timeout: 60_000 });
    assert.match(await hack.innerText(), /prints a literal value for val_loss[\s\S]*\[Ln 26, Col 1\]/);
    // Opening the problem goes to the line in the user's own file.
    await hack.dblclick();
    await bench.page.locator('.tabs-container .tab.active', { hasText: /^train\.py/ }).filter({ hasNotText: '↔' }).first().waitFor();
    await bench.page.locator('.monaco-editor .squiggly-error').first().waitFor({ state: 'attached' });
    // Hovering the line shows the evidence where the code is.
    await bench.page.locator('.monaco-editor .view-line', { hasText: 'print(f"val_loss' }).locator('span span').first().hover();
    await bench.page.locator('.monaco-hover', { hasText: 'suspected reward hack' }).first().waitFor();
    await bench.screenshot('05-problems-and-squiggle');
  });

  step('6: merging the kept experiment changes the file', async () => {
    // Only the merged file stays open, so what the editor shows is unambiguous.
    await bench.command('View: Close All Editors');
    await bench.command('Ratchet: Merge Experiment…');
    await bench.pick('e1 Double the learning rate');
    const dialog = bench.page.locator('.monaco-dialog-box');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Merge e1 into train.py\?/);
    await bench.screenshot('06a-merge-confirmation');
    await dialog.locator('.monaco-button', { hasText: 'Merge' }).first().click();
    await bench.page.locator('.tabs-container .tab.active', { hasText: 'train.py' }).first().waitFor();
    await bench.page.locator('.monaco-editor .view-lines', { hasText: 'LEARNING_RATE = 0.2' }).first().waitFor();
    // One unsaved edit: the file on disk changes only when the user saves.
    assert.match(readFileSync(path.join(repo.root, 'train.py'), 'utf8'), /LEARNING_RATE = 0.1/);
    // The merged line's hover says which experiment introduced it.
    await bench.page.locator('.monaco-editor .view-line', { hasText: 'LEARNING_RATE = 0.2' }).locator('span span').first().hover();
    await bench.page.locator('.monaco-hover', { hasText: 'changed by experiment' }).first().waitFor();
    await bench.screenshot('06b-merged');
  });

  step('7: the run log shows the runs as they went', async () => {
    await bench.command('Ratchet: Show Run Log');
    const log = bench.page.locator('.panel .monaco-editor .view-lines', { hasText: 'e4 seed 0 running on' }).first();
    await log.waitFor({ timeout: 30_000 });
    // Only the lines on screen are in the page; the latest runs' own output is among them.
    // (The editor renders spaces as no-break spaces, which \s matches.)
    assert.match(await log.innerText(), /\[e3-s0\]\s+val_loss:\s+1\.36/);
    await bench.screenshot('07-run-log');
  });

  step('8: stopping the search records the running experiment as cancelled', async () => {
    await bench.command('Ratchet: Stop Search');
    await row('e4 Train for much longer').filter({ hasText: 'cancelled' }).waitFor({ timeout: 60_000 });
    await tree().locator('.monaco-list-row', { hasText: 'stopped' }).first().waitFor();
    const searches = path.join(repo.root, '.ratchet', 'searches');
    const [id] = readdirSync(searches);
    const journal = readFileSync(path.join(searches, id!, 'journal.jsonl'), 'utf8');
    assert.match(journal, /"reason":"stopped by the user"/);
    await bench.screenshot('08-stopped');
  });

  step('9: a result held for review is accepted from its row, after a modal that says why', async () => {
    // The engine holds a result that is too good to be true as suspect; here e3 is recorded again
    // as one, the way the search writes a verdict (the latest record of an id wins).
    const searches = path.join(repo.root, '.ratchet', 'searches');
    const [id] = readdirSync(searches);
    const journal = path.join(searches, id!, 'journal.jsonl');
    const e3 = readFileSync(journal, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; experiment?: { id: string; mean?: number; verdict: unknown } })
      .filter((r) => r.type === 'experiment' && r.experiment!.id === 'e3')
      .pop()!.experiment!;
    const held = { ...e3, mean: 0.001, verdict: { kind: 'suspect', reason: 'a gain far beyond any kept so far', improvement: 1, threshold: 0.01 } };
    appendFileSync(journal, JSON.stringify({ type: 'experiment', at: new Date().toISOString(), experiment: held }) + '\n');
    // The view's Refresh button shows on its header when the pointer is over it.
    const header = tree().locator('.pane-header', { hasText: 'Experiments' }).first();
    await header.hover();
    await header.locator('.action-label[aria-label*="Refresh"]').first().click();
    const e3row = row('e3 Narrower').filter({ hasText: 'suspect — review' });
    await e3row.waitFor({ timeout: 30_000 });
    await e3row.hover();
    await e3row.locator('.action-label[aria-label*="Accept Suspect Result"]').click();
    const dialog = bench.page.locator('.monaco-dialog-box');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /e3 was held for review: a gain far beyond any kept so far\. Accept it as a real gain\?/);
    await bench.screenshot('09a-accept-confirmation');
    await dialog.locator('.monaco-button', { hasText: /^Accept$/ }).first().click();
    await row('e3 Narrower').filter({ hasText: 'kept (accepted), best' }).waitFor({ timeout: 30_000 });
    assert.match(readFileSync(journal, 'utf8'), /"type":"accepted","at":"[^"]+","id":"e3","by":"editor"/);
    await bench.screenshot('09b-accepted');
  });
});
