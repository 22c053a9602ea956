import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildPrompt, estimateTokens, type PromptInput } from '../../../src/engine/proposers/llm/prompt';
import { EDIT_FORMAT_INSTRUCTIONS } from '../../../src/engine/proposers/llm/edit-format';
import { RatchetError } from '../../../src/engine/errors';
import type { ExperimentRecord, ProposalIntent, Task, Verdict } from '../../../src/engine/types';
import { REPO } from '../../helpers';

const TRAIN = readFileSync(path.join(REPO, 'examples/charlm/train.py'), 'utf8');

const task: Task = {
  name: 'charlm',
  description: 'Character-level LM on public-domain text; lower val_bpb is better.',
  repoRoot: '/repo',
  editable: ['train.py'],
  run: 'python3 train.py',
  cwd: '',
  metric: { name: 'val_bpb', direction: 'lower' },
  budgetSeconds: 30,
  protected: ['data/**'],
  repeats: 3,
};

let nextId = 0;

/** An experiment record with sensible defaults: a kept one-run experiment of thread t1. */
function experiment(fields: Partial<ExperimentRecord> & { values?: number[] } = {}): ExperimentRecord {
  const { values = [1.0], ...rest } = fields;
  const id = rest.id ?? `e${++nextId}`;
  const verdict: Verdict = rest.verdict ?? { kind: 'kept', improvement: 0.01, threshold: 0.005 };
  return {
    id,
    parent: 'e0',
    thread: 't1',
    hypothesis: `hypothesis of ${id}`,
    proposer: 'llm',
    patch: '',
    commit: 'c0ffee',
    runs: values.map((value, seed) => ({ seed, value, metrics: { val_bpb: value }, exitCode: 0, outcome: 'ok' as const, durationMs: 1000, log: `logs/${id}-s${seed}.log`, slot: 'local' })),
    mean: values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : undefined,
    audit: [],
    verdict,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    ...rest,
  };
}

const baseline = experiment({ id: 'e0', parent: undefined, thread: 'main', hypothesis: 'baseline', values: [1.3, 1.31, 1.29], verdict: { kind: 'baseline' } });
const best = experiment({ id: 'e1', hypothesis: 'raise the learning rate to 0.05', values: [1.2, 1.21] });
const crashed = experiment({
  id: 'e2',
  parent: 'e1',
  hypothesis: 'use a hash table of 2**20 buckets',
  patch: '--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-HASH_BUCKETS = 256\n+HASH_BUCKETS = 2**20\n',
  values: [],
  verdict: { kind: 'failed', reason: 'exit code 1: MemoryError' },
  meta: { logTail: 'step 0\nTraceback (most recent call last):\nMemoryError' },
});
crashed.runs.push({ seed: 0, metrics: {}, exitCode: 1, outcome: 'failed', error: 'exit code 1: MemoryError', durationMs: 500, log: 'logs/e2-s0.log', slot: 'local' });
const hack = experiment({
  id: 'e3',
  hypothesis: 'print a better number',
  values: [0.1],
  verdict: { kind: 'flagged', reason: 'prints a literal metric value' },
  audit: [{ check: 'metric-literal', severity: 'hack', message: 'prints a literal val_bpb value', file: 'train.py', line: 180 }],
});
const rejected = experiment({ id: 'e4', hypothesis: 'edit the data', values: [], commit: undefined, verdict: { kind: 'rejected', reason: 'the patch touches protected file data/val.txt' } });
const history = [baseline, best, crashed, hack, rejected];

function input(overrides: Partial<PromptInput> = {}): PromptInput {
  return {
    task,
    intent: { kind: 'improve' },
    thread: { id: 't1', focus: 'learning-rate schedule' },
    parent: best,
    files: [{ path: 'train.py', content: TRAIN }],
    history,
    noise: 0.01,
    notes: 'LR 0.05 helped; try a decay next.',
    guidance: 'Focus on the optimiser before touching the model.',
    contextTokens: 100_000,
    ...overrides,
  };
}

test('the system prompt states the role, the rules of the task and the answer format', () => {
  const { system } = buildPrompt(input());
  for (const text of [
    'careful machine-learning and GPU-performance researcher',
    'val_bpb, lower is better',
    'python3 train.py',
    'budget of 30 s',
    'Editable files: train.py',
    'Protected files: data/**',
    'reward hacking',
    'flagged change is discarded',
    'noise-aware test',
    EDIT_FORMAT_INSTRUCTIONS,
  ]) {
    assert.ok(system.includes(text), `system prompt lacks: ${text}`);
  }
});

test('the system prompt depends on the task alone, and a higher-is-better metric says so', () => {
  const a = buildPrompt(input()).system;
  const b = buildPrompt(input({ notes: 'other', history: [baseline], intent: { kind: 'draft', others: [] } })).system;
  assert.equal(a, b);
  const tflops = buildPrompt(input({ task: { ...task, metric: { name: 'tflops', direction: 'higher' }, protected: [] } })).system;
  assert.match(tflops, /tflops, higher is better/);
  assert.match(tflops, /No files are listed as protected/);
});

test('the user prompt holds guidance, notes, history, the instruction and the full files, in that order', () => {
  const { user, tokens, summarised } = buildPrompt(input());
  const order = [
    'Focus on the optimiser before touching the model.',
    'LR 0.05 helped; try a decay next.',
    '## History of this search',
    '## What to do now: improve',
    '## Files',
    '### train.py',
  ].map((s) => user.indexOf(s));
  assert.ok(order.every((i) => i >= 0), `missing part: ${order}`);
  assert.deepEqual([...order].sort((a, b) => a - b), order);
  assert.ok(user.includes(TRAIN), 'the file is shown in full');
  assert.equal(summarised, 0);
  assert.equal(tokens, Math.ceil((buildPrompt(input()).system.length + user.length) / 4));
});

test('the history shows the baseline and noise, the best, failures with reasons, flagged hacks and every experiment', () => {
  const { user } = buildPrompt(input());
  assert.match(user, /Baseline e0: val_bpb 1\.3 \(3 runs\), lower is better\. Noise \(standard deviation of the baseline's runs\): 0\.01\./);
  assert.match(user, /4 experiments after the baseline: 1 kept, 1 failed, 1 rejected, 1 flagged\./);
  assert.match(user, /### Best so far\n- e1 \[thread t1\]: 1\.205 \(Δ -0\.095 vs baseline, 2 runs\): raise the learning rate to 0\.05/);
  assert.match(user, /- e2 failed: exit code 1: MemoryError \(hypothesis: use a hash table/);
  assert.match(user, /- e4 rejected: the patch touches protected file data\/val\.txt/);
  assert.match(user, /### Flagged as reward hacking.*\n- e3: metric-literal: prints a literal val_bpb value \(train\.py:180\)/);
  assert.match(user, /### Every experiment \(oldest first\)\n- e1 ← e0 \[t1\] kept/);
  assert.match(user, /- e3 ← e0 \[t1\] flagged \(prints a literal metric value\), 0\.1 /);
});

test('a search without notes or guidance says there are no notes yet', () => {
  const { user } = buildPrompt(input({ notes: '', guidance: undefined, history: [baseline], parent: baseline }));
  assert.match(user, /## Research notes so far\n\(none yet\)/);
  assert.doesNotMatch(user, /Research programme/);
  assert.match(user, /No experiments after the baseline yet\./);
  assert.match(user, /Extend the parent e0 \(the baseline, val_bpb 1\.3 \(3 runs\)\)/);
});

test('improve: extend the parent with one next step in the thread focus', () => {
  const { user } = buildPrompt(input());
  assert.match(user, /Thread t1, focus: learning-rate schedule\nExtend the parent e1 \(val_bpb 1\.205 \(Δ -0\.095 vs baseline, 2 runs\)\) with one next step in this thread's focus/);
});

test('debug: the failed hypothesis, its error, runs, log tail and patch; whether the files contain it', () => {
  const intent: ProposalIntent = { kind: 'debug', failed: crashed };
  const { user } = buildPrompt(input({ intent }));
  assert.match(user, /## What to do now: debug a failed experiment/);
  assert.match(user, /Experiment e2 \(extending e1\) failed\.\nIts hypothesis: use a hash table of 2\*\*20 buckets\nWhy: exit code 1: MemoryError/);
  assert.match(user, /- seed 0, failed: exit code 1: MemoryError/);
  assert.match(user, /The last lines of its log:\n```text\nstep 0\nTraceback/);
  assert.match(user, /Its patch \(against e1\):\n```diff\n--- a\/train\.py/);
  assert.match(user, /The files below already contain this failed change/);
  const never = buildPrompt(input({ intent: { kind: 'debug', failed: rejected } })).user;
  assert.match(never, /Experiment e4 \(extending e1\) was rejected/);
  assert.match(never, /The change never ran, so the files below are e1's, without it/);
});

test('debug: a long patch is truncated, saying how much was cut', () => {
  const long = { ...crashed, patch: `--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n${'+x = 1\n'.repeat(3000)}` };
  const { user } = buildPrompt(input({ intent: { kind: 'debug', failed: long } }));
  assert.match(user, /\[… \d+ more characters of the patch cut to fit the context budget\]/);
  assert.ok(user.length < long.patch.length);
});

test('draft: a new line of research, different from the threads listed', () => {
  const intent: ProposalIntent = { kind: 'draft', others: [{ id: 't1', focus: 'learning-rate schedule' }, { id: 't2' }] };
  const { user } = buildPrompt(input({ intent, thread: { id: 't3' } }));
  assert.match(user, /## What to do now: start a new line of research/);
  assert.match(user, /different from the existing threads/);
  assert.match(user, /- t1: learning-rate schedule\n- t2: \(no focus given\)/);
  assert.match(user, /Your hypothesis becomes the new thread's focus/);
});

test('combine, clean: the other hypothesis and gain, the merged patch to check', () => {
  const other = experiment({ id: 'e5', thread: 't2', hypothesis: 'larger context order', values: [1.25], verdict: { kind: 'kept', improvement: 0.05, threshold: 0.01 } });
  const intent: ProposalIntent = { kind: 'combine', other, merge: { clean: true, patch: '--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-CONTEXT_ORDER = 2\n+CONTEXT_ORDER = 4\n' } };
  const { user } = buildPrompt(input({ intent }));
  assert.match(user, /## What to do now: combine two improvements/);
  assert.match(user, /Bring the improvement of e5 \(thread t2, val_bpb 1\.25 \(Δ -0\.05 vs baseline, 1 run\), better than its parent by 0\.05\) into the parent e1/);
  assert.match(user, /e5's hypothesis: larger context order/);
  assert.match(user, /git merged the two cleanly\. The merged change against e1:\n```diff\n[^`]*\+CONTEXT_ORDER = 4/);
  assert.match(user, /The files below already include the merged change/);
});

test('combine, conflicted: resolve every conflict marker', () => {
  const other = experiment({ id: 'e6', thread: 't2', values: [1.25] });
  const conflicted = [{ path: 'train.py', content: 'x\n<<<<<<< e1\nLR = 0.05\n=======\nLR = 0.02\n>>>>>>> e6\n' }];
  const intent: ProposalIntent = { kind: 'combine', other, merge: { clean: false, conflicted } };
  const { user } = buildPrompt(input({ intent, files: conflicted }));
  assert.match(user, /git could not merge them cleanly/);
  assert.match(user, /Your edits must remove every conflict marker/);
  assert.ok(user.includes(conflicted[0]!.content));
});

test('files are fenced with a fence longer than any backtick run inside them', () => {
  const content = 'doc = """\n```python\nx = 1\n```\n"""\n';
  const { user } = buildPrompt(input({ files: [{ path: 'train.py', content }] }));
  assert.ok(user.includes(`### train.py\n\`\`\`\`\n${content}\`\`\`\``));
});

test('the same input gives the same prompt', () => {
  assert.deepEqual(buildPrompt(input()), buildPrompt(input()));
});

/** A long search: kept, discarded, failed and flagged experiments over several threads. */
function longHistory(count: number): ExperimentRecord[] {
  const list = [baseline];
  for (let i = 1; i <= count; i++) {
    const kind = i % 7 === 0 ? 'failed' : i % 5 === 0 ? 'kept' : i === 13 ? 'flagged' : 'discarded';
    const verdict: Verdict =
      kind === 'kept' ? { kind, improvement: 0.001 * i, threshold: 0.01 } : kind === 'discarded' ? { kind, reason: 'within the noise' } : { kind, reason: `${kind} for reason ${i}` };
    list.push(
      experiment({
        id: `x${i}`,
        parent: 'e0',
        thread: `t${i % 4}`,
        hypothesis: `idea number ${i}: change the knob ${i} to a new value because of some long explanation of the reasons`,
        values: kind === 'failed' ? [] : [1.3 - i * 0.001, 1.3 - i * 0.001],
        verdict,
      }),
    );
  }
  return list;
}

test('a history that does not fit is summarised, not cut, and the prompt stays within the budget', () => {
  const many = longHistory(300);
  const full = buildPrompt(input({ history: many }));
  assert.equal(full.summarised, 0);
  const budget = full.tokens - 4000;
  const small = buildPrompt(input({ history: many, contextTokens: budget }));
  assert.ok(small.tokens <= budget, `${small.tokens} > ${budget}`);
  assert.ok(small.summarised > 0);
  const listed = small.user.match(/^### The (\d+) most recent experiments/m);
  assert.ok(listed, 'the most recent experiments are still listed');
  assert.equal(Number(listed[1]) + small.summarised, 300);
  assert.match(small.user, new RegExp(`### ${small.summarised} earlier experiments, summarised\\n\\d+ kept, \\d+ discarded, \\d+ failed, 1 flagged\\.`));
  assert.match(small.user, /The most informative of them, besides those above:\n- x\d+ ← e0 \[t\d\] kept/);
  assert.match(small.user, /300 experiments after the baseline: 52 kept, 205 discarded, 42 failed, 1 flagged\./);
  assert.ok(small.user.includes(TRAIN), 'the file is still shown in full');
  assert.ok(small.user.includes('LR 0.05 helped; try a decay next.'), 'the notes are kept');
});

test('with a tight budget the history collapses to counts, then notes are clipped, never the files', () => {
  const many = longHistory(300);
  const system = buildPrompt(input({ history: [baseline] })).system;
  const floor = estimateTokens(system) + estimateTokens(TRAIN);
  const countsOnly = buildPrompt(input({ history: many, contextTokens: floor + 700 }));
  assert.ok(countsOnly.tokens <= floor + 700);
  assert.equal(countsOnly.summarised, 300);
  assert.match(countsOnly.user, /300 experiments after the baseline: 52 kept/);
  assert.doesNotMatch(countsOnly.user, /^- x\d+ ← /m);
  assert.ok(countsOnly.user.includes(TRAIN));

  const longNotes = 'a finding worth keeping. '.repeat(2000);
  const clipped = buildPrompt(input({ history: many, notes: longNotes, contextTokens: floor + 1500 }));
  assert.ok(clipped.tokens <= floor + 1500);
  assert.match(clipped.user, /more characters of the notes cut to fit the context budget \(keep your updated notes shorter\)/);
  assert.ok(clipped.user.includes(TRAIN));
});

test('files larger than the budget: a RatchetError that says to raise contextTokens', () => {
  assert.throws(
    () => buildPrompt(input({ contextTokens: 2000 })),
    (e: Error) => e instanceof RatchetError && /editable files are too large for the context budget/.test(e.message) && /contextTokens/.test(e.hint ?? ''),
  );
});
