import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseTaskFile } from '../../src/engine/task/schema';
import { findTaskFileFor, guessDirection, inferTask, loadTaskFile, saveTask } from '../../src/engine/task/load';
import { RatchetError } from '../../src/engine/errors';
import { makeRepo } from '../helpers';

const valid = {
  editable: ['train.py'],
  run: 'python3 train.py',
  metric: { name: 'val_bpb', direction: 'lower' },
};

test('a valid task file parses', () => {
  const t = parseTaskFile(JSON.stringify(valid), 'ratchet.task.json');
  assert.equal(t.metric.name, 'val_bpb');
});

test('an invalid field is reported with its line, column and the allowed values', () => {
  const text = `{
  "editable": ["train.py"],
  "run": "python3 train.py",
  "metric": { "name": "val_bpb", "direction": "down" }
}`;
  assert.throws(
    () => parseTaskFile(text, 'ratchet.task.json'),
    (e: RatchetError) => {
      assert.match(e.message, /ratchet\.task\.json:4:47: metric\.direction must be one of "lower", "higher"/);
      return true;
    },
  );
});

test('a missing required field and an unknown field are both reported', () => {
  const text = JSON.stringify({ editable: ['a.py'], metric: { name: 'x', direction: 'lower' }, budget: 5 }, null, 2);
  assert.throws(
    () => parseTaskFile(text, 't.json'),
    (e: RatchetError) => {
      assert.match(e.message, /2 problems/);
      assert.match(e.message, /run is required/);
      assert.match(e.message, /t\.json:\d+:\d+: budget is not a known field/);
      return true;
    },
  );
});

test('broken JSON is reported with its position', () => {
  assert.throws(() => parseTaskFile('{ "run": "x", }', 'task.json'), /task\.json:1:\d+: /);
});

test('task paths are relative to the task file and become repo-relative', (t) => {
  const repo = makeRepo(t, {
    'exp/train.py': 'print("val_bpb: 1")\n',
    'exp/ratchet.task.json': JSON.stringify({ ...valid, protected: ['data/**'], repeats: 2 }),
  });
  const task = loadTaskFile(path.join(repo, 'exp/ratchet.task.json'), repo);
  assert.deepEqual(task.editable, ['exp/train.py']);
  assert.equal(task.cwd, 'exp');
  assert.deepEqual(task.protected, ['exp/data/**']);
  assert.equal(task.repeats, 2);
  assert.equal(findTaskFileFor(path.join(repo, 'exp/train.py'), repo), path.join(repo, 'exp/ratchet.task.json'));
  assert.equal(findTaskFileFor(path.join(repo, 'other.py'), repo), undefined);
});

test('a task file naming a missing editable file says which', (t) => {
  const repo = makeRepo(t, { 'ratchet.task.json': JSON.stringify({ ...valid, editable: ['nope.py'] }) });
  assert.throws(() => loadTaskFile(path.join(repo, 'ratchet.task.json'), repo), /editable file nope\.py does not exist/);
});

test('an inferred task runs the file with python from its folder and can be saved as a valid task file', (t) => {
  const repo = makeRepo(t, { 'src/my train.py': 'print("loss: 1")\n' });
  const task = inferTask(path.join(repo, 'src/my train.py'), repo, {}, 'python3');
  assert.equal(task.run, "python3 'my train.py'");
  assert.equal(task.cwd, 'src');
  assert.equal(task.metric.name, '');
  const saved = saveTask({ ...task, metric: { name: 'loss', direction: 'lower' } });
  const reloaded = loadTaskFile(saved, repo);
  assert.deepEqual(reloaded.editable, ['src/my train.py']);
  assert.equal(reloaded.cwd, 'src');
  assert.equal(JSON.parse(readFileSync(saved, 'utf8')).metric.name, 'loss');
  assert.throws(() => saveTask(task), /already exists/);
});

test('metric direction is guessed from the name', () => {
  assert.equal(guessDirection('val_bpb'), 'lower');
  assert.equal(guessDirection('val_acc'), 'higher');
  assert.equal(guessDirection('tflops'), 'higher');
  assert.equal(guessDirection('time_to_loss'), 'lower');
});
