import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExperimentView, SearchInfo } from '../../src/server/protocol';
import { experimentContext, experimentDescription, experimentTooltip, searchDescription, statusBarText, statusIcon } from '../../src/extension/viewModel';
import { parseHosts, validHostAddress } from '../../src/extension/hosts';
import { dashboardHtml, newNonce } from '../../src/extension/dashboardHtml';

const exp = (over: Partial<ExperimentView>): ExperimentView => ({ id: 'e1', hypothesis: 'h', status: 'kept', runs: 1, audit: [], isBest: false, hasCommit: true, ...over });
const hack = { check: 'metric-literal', severity: 'hack' as const, message: 'prints a literal value', file: 'train.py', line: 26, evidence: 'print("val_loss: 0.5")' };

const search = (over: Partial<SearchInfo>): SearchInfo => ({
  id: 's',
  file: 'train.py',
  path: '/r/train.py',
  metric: { name: 'val_loss', direction: 'lower' },
  running: false,
  active: 0,
  experiments: 3,
  runs: 5,
  flagged: 0,
  createdAt: '2026-01-01',
  ...over,
});

test('an experiment shows its metric ± spread, delta to parent and status', () => {
  assert.equal(experimentDescription(exp({ mean: 0.91094, spread: 0.0021, delta: -0.026, isBest: true })), '0.9109 ± 0.0021 · −0.026 · kept, best');
  assert.equal(experimentDescription(exp({ status: 'discarded', mean: 1.2, delta: 0.1 })), '1.2 · +0.1 · discarded');
});

test('a suspected hack gets a badge, a shield icon and the evidence in the tooltip', () => {
  const e = exp({ status: 'flagged', mean: 0.5, audit: [hack] });
  assert.match(experimentDescription(e), /⚠ hack$/);
  assert.equal(statusIcon(e).id, 'shield');
  assert.match(experimentTooltip(e, 'val_loss'), /suspected hack: prints a literal value \(line 26\)\n {4}print\("val_loss: 0.5"\)/);
});

test('status icons tell running, best and failed apart', () => {
  assert.equal(statusIcon(exp({ status: 'running' })).id, 'sync~spin');
  assert.equal(statusIcon(exp({ isBest: true })).id, 'star-full');
  assert.equal(statusIcon(exp({ status: 'failed' })).id, 'error');
});

test('context actions follow what an experiment has', () => {
  assert.equal(experimentContext(exp({ runs: 2 })), 'experiment reviewable mergeable logged');
  assert.equal(experimentContext(exp({ status: 'flagged' })), 'experiment reviewable logged');
  assert.equal(experimentContext(exp({ status: 'rejected', hasCommit: false, runs: 0 })), 'experiment');
});

test('the status bar says what runs and the best so far', () => {
  assert.equal(statusBarText([]), '$(beaker) Ratchet');
  assert.equal(statusBarText([search({ running: true, active: 2, best: { id: 'e3', mean: 0.91 } })]), '$(sync~spin) Ratchet: 1 running · 2 active · best 0.91');
  assert.equal(statusBarText([search({ best: { id: 'e3', mean: 0.91 } })]), '$(beaker) Ratchet: best 0.91');
});

test('a search row says whether it runs and its best', () => {
  assert.equal(searchDescription(search({ running: true, active: 1, baseline: 1.75, best: { id: 'e0', mean: 1.75 } })), 'running (1 active) · baseline 1.75 val_loss · 5 runs');
  assert.equal(searchDescription(search({ best: { id: 'e1', mean: 1.27 } })), 'stopped · best 1.27 val_loss · 5 runs');
});

test('hosts come from strings or objects, and bad entries are skipped', () => {
  assert.deepEqual(parseHosts(['me@gpu1', { name: 'big', ssh: 'me@gpu2', gpus: [0, 1] }, { name: 'nothing' }, 3]), [
    { name: 'me@gpu1', address: 'me@gpu1' },
    { name: 'big', address: 'me@gpu2', gpus: '0,1' },
  ]);
  assert.ok(validHostAddress('researcher@gpu-box:2222'));
  assert.ok(!validHostAddress('rm -rf /'));
});

test('the dashboard page allows only its own assets and this render nonce', () => {
  const nonce = newNonce();
  assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
  assert.notEqual(nonce, newNonce());
  const html = dashboardHtml({ cspSource: 'vscode-resource:', script: 'vscode-resource:/d.js', styles: ['vscode-resource:/a.css'] }, nonce);
  const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!;
  assert.match(csp, /^default-src 'none'/);
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
  assert.match(html, new RegExp(`<script nonce="${nonce}" src="vscode-resource:/d.js">`));
  assert.doesNotMatch(html, /<script>|style="/);
});
