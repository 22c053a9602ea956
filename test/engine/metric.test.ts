import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferMetricName, parseMetrics } from '../../src/engine/search/metric';
import { decide } from '../../src/engine/search/decide';

test('name: value lines and JSON lines are read, the last value of a name wins', () => {
  const out = `step 10 loss 3.1
val_bpb: 1.234
{"val_bpb": 1.111, "tokens": 1000, "tag": "x"}
---
peak_vram_mb:  512.5
lr = 3e-4
`;
  const m = parseMetrics(out);
  assert.equal(m.values.val_bpb, 1.111);
  assert.equal(m.values.tokens, 1000);
  assert.equal(m.values.peak_vram_mb, 512.5);
  assert.equal(m.values.lr, 3e-4);
  assert.equal(m.values.tag, undefined);
  assert.deepEqual(m.order.slice(-1), ['lr']);
});

test('nan and inf are read as such, prose is not a metric', () => {
  const m = parseMetrics('loss: nan\nbest: -inf\nnote: the loss was 3\nepoch: 2 of 3\n');
  assert.ok(Number.isNaN(m.values.loss));
  assert.equal(m.values.best, -Infinity);
  assert.equal(m.values.note, undefined);
  assert.equal(m.values.epoch, undefined);
});

test('without a named metric, well-known names win, else the last line', () => {
  assert.equal(inferMetricName(parseMetrics('val_bpb: 1\nsteps: 100\n')), 'val_bpb');
  assert.equal(inferMetricName(parseMetrics('a: 1\nb: 2\n')), 'b');
  assert.equal(inferMetricName(parseMetrics('nothing here\n')), undefined);
});

test('a gain larger than the noise margin is better; a small one is close; a loss is not better', () => {
  const parent = { mean: 1.0, n: 3 };
  assert.equal(decide({ mean: 0.9, n: 1 }, parent, 0.01, 'lower').kind, 'better');
  assert.equal(decide({ mean: 0.99, n: 1 }, parent, 0.01, 'lower').kind, 'close');
  assert.equal(decide({ mean: 1.01, n: 1 }, parent, 0.01, 'lower').kind, 'not-better');
  assert.equal(decide({ mean: 1.1, n: 1 }, parent, 0.01, 'higher').kind, 'better');
});

test('more runs shrink the margin, so a real small gain is eventually accepted', () => {
  const parent = { mean: 1.0, n: 3 };
  const one = decide({ mean: 0.985, n: 1 }, parent, 0.01, 'lower');
  const five = decide({ mean: 0.985, n: 5 }, parent, 0.01, 'lower');
  assert.equal(one.kind, 'close');
  assert.ok(five.threshold < one.threshold);
});

test('with no measurable noise any strict gain counts, equality does not', () => {
  assert.equal(decide({ mean: 0.999, n: 1 }, { mean: 1, n: 3 }, 0, 'lower').kind, 'better');
  assert.equal(decide({ mean: 1, n: 1 }, { mean: 1, n: 3 }, 0, 'lower').kind, 'not-better');
});
