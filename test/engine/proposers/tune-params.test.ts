import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findParams, findParamsInFiles, formatNumber, rewrite } from '../../../src/engine/proposers/tune/params.js';
import { dimensionFor, fromUnit, toUnit } from '../../../src/engine/proposers/tune/space.js';

const SCRIPT = `"""Train a small GPT.

LEARNING_RATE = 99 in the docstring is not a knob.
"""
import argparse
import os

SEED = 1337
VERSION = 2
DEBUG = 0
LEARNING_RATE = 3e-4          # peak
WEIGHT_DECAY = 0.1
TRAIN_STEPS = 60_000
NEG_BIAS = -1.5e-3
ADAM_BETA2 = 0.95
USE_AMP = 1
RUN_NAME = "LR = 5"
WARMUP = 100  # LR = 7 in a comment
TOTAL = TRAIN_STEPS * 2

def schedule(step):
    LOCAL = 3
    return LEARNING_RATE * min(1, step / WARMUP)
`;

function names(src: string): Record<string, number> {
  return Object.fromEntries(findParams('train.py', src).map((p) => [p.name, p.value]));
}

describe('finding knobs', () => {
  it('finds module-level ALL_CAPS constants with separators, signs and exponents', () => {
    assert.deepEqual(names(SCRIPT), {
      LEARNING_RATE: 3e-4,
      WEIGHT_DECAY: 0.1,
      TRAIN_STEPS: 60000,
      NEG_BIAS: -1.5e-3,
      ADAM_BETA2: 0.95,
      WARMUP: 100,
    });
  });

  it('skips seeds, versions, debug flags, switches, expressions, strings, comments and locals', () => {
    const found = Object.keys(names(SCRIPT));
    for (const name of ['SEED', 'VERSION', 'DEBUG', 'USE_AMP', 'RUN_NAME', 'TOTAL', 'LOCAL']) assert.ok(!found.includes(name), name);
    assert.ok(findParams('train.py', SCRIPT).every((p) => p.value !== 99 && p.value !== 5 && p.value !== 7));
  });

  it('records the exact span of each literal and whether it is an int', () => {
    for (const p of findParams('train.py', SCRIPT)) assert.equal(SCRIPT.slice(p.start, p.end), p.text);
    const byName = new Map(findParams('train.py', SCRIPT).map((p) => [p.name, p]));
    assert.equal(byName.get('TRAIN_STEPS')!.kind, 'int');
    assert.equal(byName.get('WARMUP')!.kind, 'int');
    assert.equal(byName.get('LEARNING_RATE')!.kind, 'float');
    assert.equal(byName.get('NEG_BIAS')!.text, '-1.5e-3');
  });

  it('reads argparse defaults, respecting type=int and dest, and skipping flags and choices', () => {
    const src = `parser = argparse.ArgumentParser()
parser.add_argument('--lr', type=float, default=3e-4, help='learning rate (default=1)')
parser.add_argument("-b", "--batch-size", type=int, default=32)
parser.add_argument('--steps', type=int, default=1e3)
parser.add_argument('--warmup', default=200, dest='warmup_iters')
parser.add_argument('--fp16', action='store_true', default=0)
parser.add_argument('--opt', choices=[1, 2], default=1)
parser.add_argument('--seed', type=int, default=42)
parser.add_argument(
    '--dropout',
    type=float,
    default=0.1,  # regularisation
)
`;
    const params = findParams('train.py', src);
    assert.deepEqual(
      params.map((p) => [p.name, p.value, p.kind, p.source]),
      [
        ['lr', 3e-4, 'float', 'argparse'],
        ['batch_size', 32, 'int', 'argparse'],
        ['steps', 1000, 'int', 'argparse'],
        ['warmup_iters', 200, 'int', 'argparse'],
        ['dropout', 0.1, 'float', 'argparse'],
      ],
    );
  });

  it('reads config dicts, dict(...) and Config(...) keywords, optimiser keywords and dataclass fields', () => {
    const src = `config = {
    'lr': 3e-4,
    "n_layer": 6,  # depth
    'name': 'small',
    'seed': 0,
}
lookup = table['lr':3]
train = dict(batch_size=64, lr_min=1e-5, schedule='cos')
model = GPTConfig(n_embd=384, dropout=0.0, vocab=tok.vocab_size)
opt = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.1)
y = torch.sum(x, dim=1)

@dataclass
class TrainConfig:
    grad_clip: float = 1.0
    micro_batch: int = 8
    out_dir: str = 'out'
`;
    assert.deepEqual(
      findParams('train.py', src).map((p) => [p.name, p.value, p.kind, p.source]),
      [
        ['lr', 3e-4, 'float', 'dict'],
        ['n_layer', 6, 'int', 'dict'],
        ['batch_size', 64, 'int', 'kwarg'],
        ['lr_min', 1e-5, 'float', 'kwarg'],
        ['n_embd', 384, 'int', 'kwarg'],
        ['dropout', 0, 'float', 'kwarg'],
        ['lr#2', 6e-4, 'float', 'kwarg'],
        ['weight_decay', 0.1, 'float', 'kwarg'],
        ['grad_clip', 1, 'float', 'field'],
        ['micro_batch', 8, 'int', 'field'],
      ],
    );
  });

  it('leaves alone a block headed by a "not knobs" comment', () => {
    const src = `LEARNING_RATE = 0.01
CONTEXT_ORDER = 2

# Fixed bounds (not knobs): keep any setting within a few seconds of CPU.
MAX_TRAIN_CHARS = 150_000
MAX_CONTEXT_ORDER = 8

HIDDEN = 128
EVAL_ITERS = 20  # ratchet: fixed
`;
    assert.deepEqual(Object.keys(names(src)), ['LEARNING_RATE', 'CONTEXT_ORDER', 'HIDDEN']);
  });

  it('qualifies a name found in two files with the file', () => {
    const params = findParamsInFiles([
      { path: 'train.py', text: 'LR = 0.1\nSTEPS = 10\n' },
      { path: 'model.py', text: 'LR = 0.2\n' },
    ]);
    assert.deepEqual(params.map((p) => p.name), ['train.py:LR', 'STEPS', 'model.py:LR']);
  });
});

describe('rewriting values', () => {
  it('changes only the literals and keeps every other byte', () => {
    const params = findParams('train.py', SCRIPT);
    const out = rewrite(SCRIPT, params, { LEARNING_RATE: 0.0123, TRAIN_STEPS: 80000, WARMUP: 250 });
    const expected = SCRIPT.replace('LEARNING_RATE = 3e-4 ', 'LEARNING_RATE = 0.0123 ')
      .replace('TRAIN_STEPS = 60_000', 'TRAIN_STEPS = 80_000')
      .replace('WARMUP = 100  #', 'WARMUP = 250  #');
    assert.equal(out, expected);
    assert.deepEqual(names(out), { ...names(SCRIPT), LEARNING_RATE: 0.0123, TRAIN_STEPS: 80000, WARMUP: 250 });
  });

  it('keeps ints as ints, even when asked for a fraction', () => {
    const src = 'BATCH_SIZE = 32\n';
    const out = rewrite(src, findParams('x.py', src), { BATCH_SIZE: 47.6 });
    assert.equal(out, 'BATCH_SIZE = 48\n');
  });

  it('keeps CRLF line endings and a missing final newline', () => {
    const src = 'A_RATE = 0.5\r\nB_SIZE = 3';
    const out = rewrite(src, findParams('x.py', src), { A_RATE: 0.25, B_SIZE: 4 });
    assert.equal(out, 'A_RATE = 0.25\r\nB_SIZE = 4');
  });

  it('writes numbers the way a person would', () => {
    assert.equal(formatNumber(3.2e-5, 'float'), '3.2e-05');
    assert.equal(formatNumber(0.0123, 'float'), '0.0123');
    assert.equal(formatNumber(2, 'float'), '2.0');
    assert.equal(formatNumber(0, 'float'), '0.0');
    assert.equal(formatNumber(5e-4, 'float', '3e-4'), '5e-4');
    assert.equal(formatNumber(0.5, 'float', '3e-4'), '0.5');
    assert.equal(formatNumber(80000, 'int', '60_000'), '80_000');
    assert.equal(formatNumber(123456, 'int', '100000'), '123456');
    assert.equal(formatNumber(-3, 'int'), '-3');
  });
});

describe('search space', () => {
  it('searches learning rates and decays on a log scale around the default', () => {
    const lr = dimensionFor({ name: 'LEARNING_RATE', kind: 'float', value: 3e-4 });
    assert.equal(lr.scale, 'log');
    assert.ok(lr.low <= 3e-4 / 10 && lr.high >= 3e-4 * 10);
    assert.equal(dimensionFor({ name: 'weight_decay', kind: 'float', value: 0.1 }).scale, 'log');
    assert.equal(dimensionFor({ name: 'adam_eps', kind: 'float', value: 1e-8 }).scale, 'log');
  });

  it('searches Adam beta2 and momentum by their gap to 1, staying below 1', () => {
    const beta2 = dimensionFor({ name: 'ADAM_BETA2', kind: 'float', value: 0.999 });
    assert.equal(beta2.scale, 'gap');
    for (const u of [0, 0.3, 0.7, 1]) {
      const v = fromUnit(beta2, u);
      assert.ok(v > 0.9 && v < 1, String(v));
    }
  });

  it('keeps probabilities in [0, 1] on a linear scale', () => {
    const dropout = dimensionFor({ name: 'dropout', kind: 'float', value: 0.1 });
    assert.equal(dropout.scale, 'linear');
    assert.ok(dropout.low >= 0 && dropout.high <= 1);
    const frac = dimensionFor({ name: 'LR_FINAL_FRAC', kind: 'float', value: 1.0 });
    assert.deepEqual([frac.scale, frac.low, frac.high], ['linear', 0, 1]);
  });

  it('keeps positive ints at 1 or more, and powers of two as powers of two', () => {
    const order = dimensionFor({ name: 'CONTEXT_ORDER', kind: 'int', value: 2 });
    assert.equal(fromUnit(order, 0), 1);
    const width = dimensionFor({ name: 'n_embd', kind: 'int', value: 256 });
    assert.ok(width.pow2);
    for (const u of [0, 0.13, 0.5, 0.77, 1]) assert.ok(Number.isInteger(Math.log2(fromUnit(width, u))));
    const steps = dimensionFor({ name: 'TRAIN_STEPS', kind: 'int', value: 60000 });
    assert.equal(steps.scale, 'log');
    assert.ok(Number.isInteger(fromUnit(steps, 0.37)));
  });

  it('maps the default into the space and back', () => {
    for (const [name, kind, value] of [
      ['lr', 'float', 3e-4], ['beta2', 'float', 0.95], ['dropout', 'float', 0.2], ['steps', 'int', 5000], ['layers', 'int', 6],
    ] as const) {
      const d = dimensionFor({ name, kind, value });
      assert.ok(d.low <= value && value <= d.high, name);
      const back = fromUnit(d, toUnit(d, value));
      assert.ok(Math.abs(back - value) <= Math.abs(value) * 0.01, `${name}: ${back}`);
    }
  });
});
