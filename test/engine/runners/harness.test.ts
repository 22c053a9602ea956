// The engine's reading of the harness protocol, against the real harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { harnessRoot, ProtocolReader, trainArgs } from '../../../src/engine/runners/harness';
import { tempDir } from '../../helpers';

function runHarness(args: string[], cwd: string): string {
  try {
    return execFileSync('python3', args, { cwd, env: { ...process.env, PYTHONPATH: harnessRoot() }, encoding: 'utf8' });
  } catch (e) {
    return (e as { stdout: string }).stdout; // a failed run still speaks the protocol
  }
}

test('every line of a real train run validates against the protocol schema and folds into a result', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'eval.py'), 'held out\n');
  writeFileSync(path.join(dir, 'train.py'), 'import os\nprint("step 1")\nprint(f"val_bpb: {1.5 + int(os.environ[\'RATCHET_SEED\'])}")\nopen("eval.py", "a").write("x")\n');
  const stdout = runHarness(trainArgs({ experimentId: 'e3', seed: 2, budgetSeconds: 30, cwd: dir, protect: ['eval.py'], command: "python3 'train.py'" }), dir);
  const output: string[] = [];
  const reader = new ProtocolReader('e3', (l) => output.push(l), 'exp');
  reader.push(stdout);
  reader.finish();
  assert.deepEqual(reader.violations, []);
  assert.deepEqual(output, ['step 1', 'val_bpb: 3.5']);
  assert.equal(reader.metrics.val_bpb, 3.5);
  assert.equal(reader.end?.reason, 'ok');
  assert.equal(reader.end?.exitCode, 0);
  assert.equal(reader.audit.length, 1);
  assert.equal(reader.audit[0]!.check, 'protected-file-changed');
  assert.equal(reader.audit[0]!.file, 'exp/eval.py');
});

test('probe output validates against the schema', () => {
  const stdout = runHarness(['-m', 'ratchet_harness', 'probe', '--experiment-id', 'probe'], process.cwd());
  const reader = new ProtocolReader('probe', () => undefined, '');
  reader.push(stdout);
  reader.finish();
  assert.deepEqual(reader.violations, []);
  assert.ok(reader.end);
});

test('lines that break the protocol are reported, not trusted', () => {
  const reader = new ProtocolReader('e1', () => undefined, '');
  const ok = (seq: number, extra: object) => JSON.stringify({ protocol: 1, experiment_id: 'e1', seq, time: 1, ...extra });
  reader.push('not json\n');
  reader.push(ok(0, { type: 'metric', name: 'val_bpb', value: 0.1, source: 'output' }) + '\n');
  reader.push(JSON.stringify({ protocol: 1, experiment_id: 'e2', seq: 1, time: 1, type: 'metric', name: 'val_bpb', value: 0.0, source: 'output' }) + '\n');
  reader.push(ok(5, { type: 'metric', name: 'x' }) + '\n'); // missing value and source
  reader.finish();
  assert.equal(reader.metrics.val_bpb, 0.1, 'an event for another experiment must not count');
  assert.equal(reader.violations.length, 3);
  assert.match(reader.violations[0]!, /not JSON/);
  assert.match(reader.violations[1]!, /for e2, expected e1/);
});
