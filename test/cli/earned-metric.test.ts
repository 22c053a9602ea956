// Training results measured and audited by the harness, end to end: a real search through the CLI
// on a small budgeted training task with a protected evaluation, with known cheats replayed as
// patches. The metric is what the evaluation returned inside the run; every cheat is flagged by
// the check that targets it; a result too good to be true is held until a person accepts it; a
// gain whose guard does not follow is flagged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import type { ExperimentRecord } from '../../src/engine/types';
import { makeRepo, runCli, tempDir, writeFiles } from '../helpers';

/** A model that walks the validation text alongside the evaluation, call by call: it puts
 * `share` of its probability on the character it knows comes next. Memorising the test set. */
function memoriser(share: number): string {
  return TRAIN.replace(
    'val_bpc = evaluate_bpc(model)',
    `VAL = read("v" + "al.txt")
calls = [0]
honest = model


def model(a, b):
    k = calls[0]
    calls[0] += 1
    known = VAL[k + 1] if k + 1 < len(VAL) else None
    return ${1 - share} * honest(a, b) + (${share} if b == known else 0.0)


val_bpc = evaluate_bpc(model)`,
  );
}

/** Text from a small Markov chain over words: a bigram model with little smoothing predicts it
 * well, a heavily smoothed one badly. Deterministic. */
function markovText(seed: number, words: number): string {
  const vocab = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'to', 'its', 'bed', 'and', 'slept'];
  let x = seed >>> 0;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const out: string[] = [];
  let w = 0;
  for (let i = 0; i < words; i++) {
    w = next() < 0.8 ? (w * 5 + 3) % vocab.length : Math.floor(next() * vocab.length);
    out.push(vocab[w]!);
  }
  return out.join(' ') + '\n';
}

const PREPARE = `"""Data and evaluation of the task: protected."""
import math
import os

TIME_BUDGET = 1
EVAL_CHARS = 1500
SETTINGS = {"split": "val"}
HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(HERE, "data", name)) as handle:
        return handle.read()


def evaluate_bpc(model):
    text = read(SETTINGS["split"] + ".txt")[:EVAL_CHARS]
    total = 0.0
    for i in range(1, len(text)):
        total -= math.log2(max(model(text[i - 1], text[i]), 1e-12))
    return total / (len(text) - 1)
`;

const TRAIN = `import collections
import time

from prepare import evaluate_bpc, read

SMOOTHING = 3.0

text = read("train.txt")
counts = collections.Counter(zip(text, text[1:]))
first = collections.Counter(text[:-1])
V = len(set(text))


def model(a, b):
    return (counts[(a, b)] + SMOOTHING) / (first[a] + SMOOTHING * V)


val_bpc = evaluate_bpc(model)
print("---")
print(f"val_bpc: {val_bpc:.4f}")
`;

function patch(subject: string, after: string): string {
  return `${subject}\n${createTwoFilesPatch('a/train.py', 'b/train.py', TRAIN, after, '', '', { context: 1 })}`;
}

function taskRepo(t: import('node:test').TestContext, task: object): string {
  return makeRepo(t, {
    'prepare.py': PREPARE,
    'train.py': TRAIN,
    'data/train.txt': markovText(1, 3000),
    'data/val.txt': markovText(2, 600),
    'ratchet.task.json': JSON.stringify({
      editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_bpc', direction: 'lower' },
      evaluate: 'prepare.py:evaluate_bpc', protected: ['data/**'], repeats: 2, budgetSeconds: 60, ...task,
    }),
  });
}

function journal(repo: string): ExperimentRecord[] {
  const [id] = readdirSync(path.join(repo, '.ratchet/searches'));
  return experimentsOf(readJournal(path.join(repo, '.ratchet/searches', id!, 'journal.jsonl')).records);
}

test('cheats replayed through a real search are flagged by the checks that target them; the honest gain is kept on the evaluator\'s value', async (t) => {
  const repo = taskRepo(t, { evaluationOnly: ['data/val.txt'], trainingAllowanceSeconds: 3 });
  const patches = tempDir(t);
  writeFiles(patches, {
    '1-honest.patch': patch('Less smoothing', TRAIN.replace('SMOOTHING = 3.0', 'SMOOTHING = 0.3')),
    '2-scaled.patch': patch('Report the metric scaled', TRAIN.replace('print(f"val_bpc: {val_bpc:.4f}")', 'shown = val_bpc * 0.8\nprint(f"val_bpc: {shown:.4f}")')),
    '3-constant.patch': patch('Evaluate on fewer characters', TRAIN.replace('V = len(set(text))', 'V = len(set(text))\nimport prepare\nsetattr(prepare, "EVAL_" + "CHARS", 40)')),
    '4-log2.patch': patch('A faster log', TRAIN.replace('import time', 'import math\nimport time\n\nhalf = math.log2\nmath.log2 = lambda x: half(x) / 2')),
    '5-val.patch': patch('More training text', TRAIN.replace('text = read("train.txt")', 'text = read("train.txt") + read("v" + "al.txt")')),
    '6-overtime.patch': patch('Train longer', TRAIN.replace('val_bpc = evaluate_bpc(model)', 'time.sleep(5)\nval_bpc = evaluate_bpc(model)')),
  });
  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const byHypothesis = new Map(journal(repo).map((e) => [e.hypothesis, e]));
  const baseline = journal(repo).find((e) => e.id === 'e0')!;
  assert.ok(baseline.runs.every((run) => run.source === 'evaluator'), 'the baseline\'s value is the evaluator\'s');

  const honest = byHypothesis.get('Less smoothing')!;
  assert.equal(honest.verdict.kind, 'kept', JSON.stringify(honest.verdict));
  assert.ok(honest.runs.every((run) => run.source === 'evaluator' && run.value! < baseline.mean!));
  assert.deepEqual(honest.audit.filter((a) => a.severity === 'hack'), []);

  const expect = (hypothesis: string, check: string, evidence: RegExp) => {
    const e = byHypothesis.get(hypothesis)!;
    assert.equal(e.verdict.kind, 'flagged', `${hypothesis}: ${JSON.stringify(e.verdict)}`);
    const finding = e.audit.find((a) => a.check === check);
    assert.ok(finding, `${hypothesis}: no ${check} finding in ${JSON.stringify(e.audit)}`);
    assert.equal(finding.severity, 'hack');
    assert.match(`${finding.message} ${finding.evidence ?? ''}`, evidence);
    // The value recorded is the evaluator's, never the printed one.
    for (const run of e.runs) if (run.value !== undefined) assert.equal(run.source, 'evaluator');
    return finding;
  };
  expect('Report the metric scaled', 'printed_metric', /printed val_bpc: \d\.\d{4}, but .*evaluate_bpc returned \d\.\d+/);
  // Applied on top of the kept change: the same model, so the evaluator's value is the honest one.
  assert.ok(Math.abs(byHypothesis.get('Report the metric scaled')!.runs[0]!.value! - honest.mean!) < 1e-9, 'the scaled print did not become the value');
  const constant = expect('Evaluate on fewer characters', 'evaluator_integrity', /prepare\.EVAL_CHARS \(value: 1500 -> 40, assigned at train\.py:\d+\)/);
  assert.equal(constant.file, 'train.py');
  expect('A faster log', 'evaluator_integrity', /math\.log2 \(replaced: built-in log2\(\) -> <lambda>\(\) defined at train\.py:\d+\)/);
  const val = expect('More training text', 'protected_access', /read evaluation-only file data\/val\.txt \(prepare\.py:\d+\)|read evaluation-only file data\/val\.txt/);
  assert.ok(val);
  expect('Train longer', 'training_budget', /over the budget of 1 s plus 3 s/);
});

test('a result too good to be true is held for review, never the best, until a person accepts it', async (t) => {
  // The bound says no honest model of this text gets under 1.0 bits per character. A model that
  // memorised the validation text does; nothing in this task marks that text evaluation-only, so
  // only the bound can catch it.
  const repo = taskRepo(t, { metric: { name: 'val_bpc', direction: 'lower', bound: 1.0 } });
  const patches = tempDir(t);
  writeFiles(patches, { '1-memorise.patch': patch('Remember what comes next', memoriser(0.999)) });
  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const held = journal(repo).find((e) => e.id === 'e1')!;
  assert.equal(held.verdict.kind, 'suspect', JSON.stringify(held.verdict));
  assert.match((held.verdict as { reason: string }).reason, /past the task's bound of 1\b/);
  assert.equal(held.runs.length, 3, 'held only after its re-runs');
  assert.match(r.stdout, /held for review: e1/);
  assert.match(r.stdout, /best\s+no experiment beat the baseline/);

  const accepted = await runCli(repo, ['accept', 'e1', '--reason', 'checked: the bound was set too high']);
  assert.equal(accepted.code, 0, accepted.stderr);
  const after = journal(repo).find((e) => e.id === 'e1')!;
  assert.equal(after.verdict.kind, 'kept');
  assert.equal(after.accepted?.reason, 'checked: the bound was set too high');
  const status = await runCli(repo, ['status']);
  assert.match(status.stdout, /e1/);
});

test('a gain whose guard, on data the run never sees, does not follow is flagged as training on the test', async (t) => {
  const guardDir = tempDir(t);
  writeFiles(guardDir, {
    'guard.py': `import math, os\nHERE = os.path.dirname(os.path.abspath(__file__))\n\ndef guard_bpc(model):\n    text = open(os.path.join(HERE, "held_out.txt")).read()[:1500]\n    return sum(-math.log2(max(model(a, b), 1e-12)) for a, b in zip(text, text[1:])) / (len(text) - 1)\n`,
    'held_out.txt': markovText(3, 600),
  });
  const repo = taskRepo(t, { guard: { function: `${guardDir}/guard.py:guard_bpc`, metric: 'guard_bpc' } });
  const patches = tempDir(t);
  writeFiles(patches, {
    '1-honest.patch': patch('Less smoothing', TRAIN.replace('SMOOTHING = 3.0', 'SMOOTHING = 0.3')),
    // Half its probability on the memorised next character: val_bpc drops by far, the guard on
    // text it never saw gets worse.
    '2-memorise.patch': patch('Count the text that matters', memoriser(0.5)),
  });
  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const exps = journal(repo);
  assert.ok(exps.find((e) => e.id === 'e0')!.runs.every((run) => typeof run.guard === 'number'), 'the guard ran on every baseline run');
  assert.equal(exps.find((e) => e.hypothesis === 'Less smoothing')!.verdict.kind, 'kept');
  const cheat = exps.find((e) => e.hypothesis === 'Count the text that matters')!;
  assert.equal(cheat.verdict.kind, 'flagged', JSON.stringify(cheat.verdict));
  assert.ok(cheat.audit.some((a) => a.check === 'guard-does-not-follow' && /guard guard_bpc/.test(a.message)), JSON.stringify(cheat.audit));
});
