import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExperimentView, SearchInfo, ThreadSummary } from '../../src/server/protocol';
import {
  acceptPrompt,
  experimentContext,
  experimentDescription,
  experimentTooltip,
  searchChildren,
  searchDescription,
  searchTooltip,
  statusBarText,
  statusIcon,
  threadDescription,
  threadIcon,
  threadLabel,
  threadTooltip,
  usageText,
} from '../../src/extension/viewModel';
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

// Threads of research: what the tree shows between a search and its experiments.
const thread = (over: Partial<ThreadSummary>): ThreadSummary => ({ id: 't1', focus: 'f', experiments: 1, running: 0, sinceImprovement: 0, open: true, ...over });
const shape = (children: ReturnType<typeof searchChildren>) =>
  children.map((c) => (c.kind === 'thread' ? `${c.thread.id}[${c.experiments.map((e) => e.id).join(',')}]` : c.experiment.id));

test('a search without threads lists its experiments directly, as it always did', () => {
  const experiments = [exp({ id: 'e0', status: 'baseline', thread: 'main' }), exp({ id: 'e1', thread: 'main' }), exp({ id: 'e2', status: 'running' })];
  const children = searchChildren(search({}), experiments);
  assert.deepEqual(children, experiments.map((experiment) => ({ kind: 'experiment', experiment })));
  // Records from before threads have no thread at all: the same.
  assert.deepEqual(shape(searchChildren(search({}), [exp({ id: 'e0' }), exp({ id: 'e1' })])), ['e0', 'e1']);
  // The search row reads exactly as before when no model made its experiments.
  assert.equal(searchTooltip(search({ id: 's9', stoppedBecause: 'the time limit' })), 's9\nval_loss (lower is better)\nstopped: the time limit');
});

test('with threads, the baseline stays on top and each thread holds its experiments, in order', () => {
  const threads = [thread({ id: 't1', focus: 'Raise the learning rate', experiments: 2 }), thread({ id: 't2', focus: 'Wider model' })];
  const experiments = [
    exp({ id: 'e0', status: 'baseline', thread: 'main' }),
    exp({ id: 'e1', thread: 't1' }),
    exp({ id: 'e2', thread: 't2' }),
    exp({ id: 'e3', thread: 't1' }),
    exp({ id: 'e4', thread: 't3', hypothesis: 'Cosine schedule', status: 'running' }),
    exp({ id: 'e5', status: 'running' }),
  ];
  const children = searchChildren(search({ threads }), experiments);
  // A running experiment whose thread is not known yet waits at the top level.
  assert.deepEqual(shape(children), ['e0', 't1[e1,e3]', 't2[e2]', 't3[e4]', 'e5']);
  assert.equal(children[1]!.kind === 'thread' && children[1].thread, threads[0]);
  // t3 started after the search was read: an open thread told from its own rows.
  const t3 = children[3]!.kind === 'thread' ? children[3].thread : undefined;
  assert.deepEqual(t3 && [t3.focus, t3.experiments, t3.running, t3.open], ['Cosine schedule', 0, 1, true]);
});

test('a thread node names its focus, best, size, and whether it is open or stale', () => {
  const open = thread({ id: 't2', focus: 'Warm the learning rate up over the first thousand steps, then decay it', best: { id: 'e7', mean: 0.91094 }, experiments: 6, sinceImprovement: 2 });
  assert.equal(threadLabel(open), 't2 Warm the learning rate up over the first…');
  assert.equal(threadDescription(open), 'best 0.9109 (e7) · 6 experiments · open');
  assert.equal(threadIcon(open).color, undefined);
  assert.match(threadTooltip(open, 'val_loss'), /best val_loss: 0.9109 \(e7\)\nopen: 2 experiment/);
  const stale = thread({ experiments: 5, sinceImprovement: 5, open: false });
  assert.equal(threadDescription(stale), 'nothing kept · 5 experiments · stale');
  assert.equal(threadIcon(stale).color, 'disabledForeground');
  assert.match(threadTooltip(stale, 'val_loss'), /^stale: 5 experiments without an improvement/m);
  assert.equal(threadDescription(thread({ running: 1 })), 'nothing kept · 1 experiment · 1 running · open');
});

test('combines and fixes show on the row; the tooltip says the thread, the intent and the model cost', () => {
  const usage = { model: 'openai:gpt-4o-mini', calls: 3, inputTokens: 11_000, outputTokens: 1_400, costUsd: 0.0412 };
  const combine = exp({ id: 'e8', parent: 'e7', thread: 't1', intent: 'combine', other: 'e5', mean: 0.9, delta: -0.01, usage });
  assert.equal(experimentDescription(combine), '0.9 · −0.01 · kept · combines e5');
  const tip = experimentTooltip(combine, 'val_loss');
  assert.match(tip, /^thread t1 · brings e5's change into e7$/m);
  assert.match(tip, /^model openai:gpt-4o-mini: 3 calls, 12\.4k tokens, \$0\.04$/m);
  const fix = exp({ id: 'e4', thread: 't2', intent: 'debug', other: 'e3', status: 'failed' });
  assert.equal(experimentDescription(fix), 'failed · fixes e3');
  assert.match(experimentTooltip(fix, 'val_loss'), /thread t2 · fixes e3, which failed/);
  // A plain step of a thread has no marker.
  assert.equal(experimentDescription(exp({ thread: 't1', intent: 'improve' })), 'kept');
});

test('the search row shows the total model cost, its tooltip the calls and tokens', () => {
  const usage = { calls: 12, inputTokens: 80_000, outputTokens: 4_100, costUsd: 0.42 };
  const s = search({ best: { id: 'e1', mean: 1.27 }, usage, threads: [thread({}), thread({ id: 't2', open: false })] });
  assert.equal(searchDescription(s), 'stopped · best 1.27 val_loss · 5 runs · $0.42');
  assert.match(searchTooltip(s), /\n2 threads of research, 1 open\nmodel: 12 calls, 84\.1k tokens, \$0\.42$/);
  // The editor's own models have no price: tokens in the tooltip, no dollars on the row.
  assert.equal(searchDescription(search({ usage: { ...usage, costUsd: 0 } })), 'stopped · 5 runs');
  assert.equal(usageText({ calls: 1, inputTokens: 300, outputTokens: 20, costUsd: 0.001 }), '1 call, 320 tokens, <$0.01');
});

// ---- results held for review, accepting them, and self-reported values ----

const heldExp = exp({
  id: 'e7',
  parent: 'e3',
  hypothesis: 'Cache the evaluation batches',
  status: 'suspect',
  reason: 'a gain 12× the largest kept so far',
  mean: 0.5,
  delta: -0.4,
  review: { model: 'openai:gpt-4o', verdict: 'flag', reason: 'reads the labels' },
  provenance: 'self-reported',
});

test('a suspect row asks for review: eye icon, its own description, the reason and the review in the tooltip', () => {
  assert.equal(statusIcon(heldExp).id, 'eye');
  assert.equal(experimentDescription(heldExp), '0.5 · −0.4 · suspect — review · self-reported');
  const tip = experimentTooltip(heldExp, 'val_bpb');
  assert.match(tip, /^status: suspect, held for review — a gain 12× the largest kept so far$/m);
  assert.match(tip, /^val_bpb: 0\.5 ± 0 over 1 run\(s\) \(self-reported: what the script printed\)$/m);
  assert.match(tip, /^model review \(openai:gpt-4o\): flag — reads the labels$/m);
  assert.match(tip, /^Not kept until you accept it: review the change, then Accept Suspect Result…$/m);
  // The accept action is on this row, and only on rows held for review.
  assert.equal(experimentContext(heldExp), 'experiment reviewable acceptable logged');
  assert.doesNotMatch(experimentContext(exp({})), /acceptable/);
});

test('the accept dialog says why it was held and what accepting does', () => {
  const p = acceptPrompt(heldExp);
  assert.equal(p.message, 'e7 was held for review: a gain 12× the largest kept so far. Accept it as a real gain?');
  assert.equal(
    p.detail,
    [
      'Model review (openai:gpt-4o): flag — reads the labels',
      'Cache the evaluation batches (−0.4 vs e3)',
      'Its metric is self-reported: what the script printed.',
      'Accepted, it counts as kept: it can become the best, and the search builds on it.',
    ].join('\n'),
  );
});

test('an accepted row says it was accepted; values from the evaluator are not marked', () => {
  const accepted = exp({ isBest: true, mean: 0.5, accepted: { at: '2026-01-01T10:00:00.000Z', by: 'editor', reason: 'checked the data' }, provenance: 'evaluator' });
  assert.equal(experimentDescription(accepted), '0.5 · kept (accepted), best');
  assert.match(experimentTooltip(accepted, 'val_bpb'), /\(from the evaluation function\)\nheld for review, then accepted by editor on 2026-01-01 10:00: checked the data$/);
});

test('a search row counts what is held and marks a self-reported best', () => {
  const s = search({ best: { id: 'e3', mean: 0.9 }, provenance: 'self-reported', held: [{ id: 'e7', reason: 'too good' }] });
  assert.equal(searchDescription(s), 'stopped · best 0.9 val_loss (self-reported) · 5 runs · 1 held for review');
  assert.match(searchTooltip(s), /\nval_loss is self-reported: the value is what the script printed, not captured from a protected evaluation function\n/);
  assert.match(searchTooltip(s), /\ne7 held for review: too good$/);
  assert.equal(searchDescription(search({ best: { id: 'e3', mean: 0.9 }, provenance: 'harness' })), 'stopped · best 0.9 val_loss · 5 runs');
});
