// A training task's evaluation contract: inferred from the layout, stated in a task file, and
// refused where it would let a proposal change how it is scored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { inferTask, loadTaskFile } from '../../src/engine/task/load';
import { evaluationFunctions, pythonImports, timeBudgetConstant, trainContract } from '../../src/engine/task/evaluation';
import { makeRepo, writeFiles } from '../helpers';
import type { RatchetError } from '../../src/engine/errors';

const PREPARE = `"""Data and evaluation."""
import math
MAX_SEQ_LEN = 2048
TIME_BUDGET = 300        # training time budget in seconds (5 minutes)
EVAL_TOKENS = 40 * 524288

def make_dataloader(B, T, split):
    pass

@torch.no_grad()
def evaluate_bpb(model, tokenizer, batch_size):
    return 1.0
`;
const TRAIN = `import torch
from prepare import (MAX_SEQ_LEN, TIME_BUDGET, Tokenizer,
                     make_dataloader, evaluate_bpb)
print(f"val_bpb: {evaluate_bpb(None, None, 1):.6f}")
`;

test('an autoresearch layout is read as it is: prepare.py protected, its evaluate_bpb the metric, TIME_BUDGET the training budget', (t) => {
  const repo = makeRepo(t, { 'prepare.py': PREPARE, 'train.py': TRAIN });
  const task = inferTask(path.join(repo, 'train.py'), repo, {}, 'python3');
  assert.equal(task.evaluate, 'prepare.py:evaluate_bpb');
  assert.deepEqual(task.protected, ['prepare.py']);
  assert.equal(task.trainingBudgetSeconds, 300);
  assert.deepEqual(trainContract(task), { metric: '', evaluate: 'prepare.py:evaluate_bpb', trainingBudgetSeconds: 300 });
});

test('a script with its evaluation in its own file, or two candidate evaluations, is self-reported', (t) => {
  const repo = makeRepo(t, {
    'alone/train.py': 'def evaluate_bpb(m):\n    return 1\nprint(f"val_bpb: {evaluate_bpb(0)}")\n',
    'two/train.py': 'import evals\nimport more\n',
    'two/evals.py': 'def evaluate_loss(m):\n    return 1\n',
    'two/more.py': 'def evaluate_acc(m):\n    return 1\n',
  });
  assert.equal(inferTask(path.join(repo, 'alone/train.py'), repo, {}, 'python3').evaluate, undefined);
  const two = inferTask(path.join(repo, 'two/train.py'), repo, {}, 'python3');
  assert.equal(two.evaluate, undefined);
  assert.deepEqual(two.protected, []);
});

test('the evaluation the script imports by name wins over other evaluate functions', (t) => {
  const repo = makeRepo(t, {
    'train.py': 'from evals import evaluate_loss\nimport more\n',
    'evals.py': 'def evaluate_loss(m):\n    return 1\n',
    'more.py': 'def evaluate_acc(m):\n    return 1\n',
  });
  assert.equal(inferTask(path.join(repo, 'train.py'), repo, {}, 'python3').evaluate, 'evals.py:evaluate_loss');
});

test('a task file states its evaluation; its file and the evaluation-only data are protected', (t) => {
  const repo = makeRepo(t, { 'exp/prepare.py': PREPARE, 'exp/train.py': TRAIN, 'exp/data/val.bin': 'x' });
  writeFiles(repo, {
    'exp/ratchet.task.json': JSON.stringify({
      editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_bpb', direction: 'lower', bound: 0.3 },
      evaluate: 'prepare.py:evaluate_bpb', evaluationOnly: ['data/val.bin'], trainingBudgetSeconds: 60, probes: ['causal-lm'],
      guard: { function: '/srv/guard/guard.py:guard_bpb', metric: 'guard_bpb' },
    }),
  });
  const task = loadTaskFile(path.join(repo, 'exp/ratchet.task.json'), repo);
  assert.equal(task.evaluate, 'exp/prepare.py:evaluate_bpb');
  assert.deepEqual(task.protected.sort(), ['exp/data/val.bin', 'exp/prepare.py']);
  assert.deepEqual(task.evaluationOnly, ['exp/data/val.bin']);
  assert.equal(task.trainingBudgetSeconds, 60, 'the file wins over TIME_BUDGET');
  assert.equal(task.metric.bound, 0.3);
  assert.deepEqual(task.probes, ['causal-lm']);
  assert.deepEqual(task.guard, { function: '/srv/guard/guard.py:guard_bpb', metric: 'guard_bpb' });
});

test('a task file with a protected evaluation module and no "evaluate" gets it inferred', (t) => {
  const repo = makeRepo(t, { 'prepare.py': PREPARE, 'train.py': TRAIN });
  writeFiles(repo, { 'ratchet.task.json': JSON.stringify({ editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_bpb', direction: 'lower' }, protected: ['prepare.py'] }) });
  const task = loadTaskFile(path.join(repo, 'ratchet.task.json'), repo);
  assert.equal(task.evaluate, 'prepare.py:evaluate_bpb');
  assert.equal(task.trainingBudgetSeconds, 300);
  // Not protected: not the task's evaluation (a proposal could change it).
  writeFiles(repo, { 'ratchet.task.json': JSON.stringify({ editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_bpb', direction: 'lower' } }) });
  assert.equal(loadTaskFile(path.join(repo, 'ratchet.task.json'), repo).evaluate, undefined);
});

test('an evaluation in an editable file, a missing function and a guard inside the repository are refused with what to do', (t) => {
  const repo = makeRepo(t, { 'prepare.py': PREPARE, 'train.py': TRAIN });
  const load = (content: object) => {
    writeFiles(repo, { 'ratchet.task.json': JSON.stringify({ editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_bpb', direction: 'lower' }, ...content }) });
    return () => loadTaskFile(path.join(repo, 'ratchet.task.json'), repo);
  };
  assert.throws(load({ evaluate: 'train.py:main' }), (e: RatchetError) => /in an editable file/.test(e.message) && /module of its own/.test(e.hint ?? ''));
  assert.throws(load({ evaluate: 'prepare.py:evaluate_nope' }), /defines no top-level function evaluate_nope/);
  assert.throws(load({ evaluate: 'nope.py:evaluate' }), /evaluation file nope\.py does not exist/);
  assert.throws(load({ guard: { function: 'guard.py:g' } }), /task file has 1 problem.*guard\.function must match pattern/s);
  assert.throws(load({ guard: { command: 'python3 /srv/g.py' } }), /guard\.command needs "metric"/);
  assert.throws(load({ guard: { metric: 'g' } }), /exactly one of "function" and "command"/);
});

test('imports, evaluate functions and the time budget are read from Python source', () => {
  const imports = pythonImports('import os, torch.nn as nn\nfrom prepare import (A,\n  evaluate_bpb as ev)\nfrom . import x\n');
  assert.deepEqual([...imports.keys()], ['os', 'torch.nn', 'prepare']);
  assert.deepEqual([...imports.get('prepare')!], ['A', 'evaluate_bpb']);
  assert.deepEqual(evaluationFunctions('def evaluate_bpb(m):\n  def evaluate_inner():\n    pass\nasync def evaluate_async(x):\n  pass\n'), ['evaluate_bpb', 'evaluate_async']);
  assert.equal(timeBudgetConstant('TIME_BUDGET = 5 * 60  # seconds\n'), 300);
  assert.equal(timeBudgetConstant('TIME_BUDGET: float = 20.5\n'), 20.5);
  assert.equal(timeBudgetConstant('MY_TIME_BUDGET = 3\n'), undefined);
});
