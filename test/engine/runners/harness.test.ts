// The engine's reading of the harness protocol, against the real harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { harnessRoot, kernelArgs, ProtocolReader, trainArgs } from '../../../src/engine/runners/harness';
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
  const reader = new ProtocolReader('e3', { output: (l) => output.push(l) }, 'exp');
  reader.push(stdout);
  reader.finish();
  assert.deepEqual(reader.violations, []);
  assert.deepEqual(output, ['step 1', 'val_bpb: 3.5']);
  assert.equal(reader.metrics.val_bpb, 3.5);
  assert.equal(reader.end?.reason, 'ok');
  assert.equal(reader.end?.exitCode, 0);
  // Seen twice: by the audit hook inside the run (the open, with the line that did it) and by the
  // hashes around it.
  assert.deepEqual(reader.audit.map((a) => [a.check, a.file, a.line]), [['protected_access', 'train.py', 4], ['protected-file-changed', 'exp/eval.py', undefined]]);
});

test('probe output validates against the schema', () => {
  const stdout = runHarness(['-m', 'ratchet_harness', 'probe', '--experiment-id', 'probe'], process.cwd());
  const reader = new ProtocolReader('probe', { output: () => undefined }, '');
  reader.push(stdout);
  reader.finish();
  assert.deepEqual(reader.violations, []);
  assert.ok(reader.end);
});

test('lines that break the protocol are reported, not trusted', () => {
  const reader = new ProtocolReader('e1', { output: () => undefined }, '');
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

const ev = (type: string, seq: number, fields: Record<string, unknown>) =>
  `${JSON.stringify({ protocol: 1, type, experiment_id: 'e1', seq, time: 1, ...fields })}\n`;

test('events become output lines, audit findings and the end, however the bytes are cut', () => {
  const lines: string[] = [];
  const reader = new ProtocolReader('e1', { output: (l) => lines.push(l) }, '');
  const text =
    ev('start', 0, { mode: 'train', environment: {} }) +
    ev('log', 1, { stream: 'stdout', text: 'val_bpb: 0.9 ✓' }) +
    ev('metric', 2, { name: 'val_bpb', value: 0.9, source: 'output' }) +
    ev('audit', 3, { check: 'protected_files', verdict: 'fail', message: 'changed', evidence: { changed: ['./prepare.py'], removed: [], added: [] } }) +
    'not an event\n' +
    ev('end', 4, { reason: 'failed', exit_code: 3, signal: null, wall_seconds: 1 });
  const bytes = Buffer.from(text);
  // Byte by byte: lines and multi-byte characters cut at any point still decode whole.
  for (let i = 0; i < bytes.length; i++) reader.push(bytes.subarray(i, i + 1));
  assert.deepEqual(lines, ['val_bpb: 0.9 ✓', 'not an event']);
  assert.deepEqual(reader.audit.map((a) => [a.check, a.severity, a.file]), [['protected-file-changed', 'hack', 'prepare.py']]);
  assert.deepEqual(reader.end, { reason: 'failed', exitCode: 3, signal: null, message: undefined });
  assert.equal(reader.offset, bytes.length);
  assert.equal(reader.metricLines(), 'val_bpb: 0.9');
});

test('an event of another protocol version ends the run with an error instead of a guess', () => {
  const reader = new ProtocolReader('e1', { output: () => undefined }, '');
  reader.push(`${JSON.stringify({ protocol: 2, type: 'end', reason: 'ok' })}\n`);
  assert.equal(reader.end?.reason, 'error');
  assert.match(reader.end?.message ?? '', /protocol 2/);
});

test('the offset counts only complete lines, so a re-attach resumes at a line start', () => {
  const reader = new ProtocolReader('e1', { output: () => undefined }, '');
  const line = ev('log', 0, { stream: 'stdout', text: 'a' });
  reader.push(line + line.slice(0, 10));
  assert.equal(reader.offset, Buffer.byteLength(line));
});

test('kernel runs: the invocation, per-shape metrics, and wrong candidates told apart from suspect ones', () => {
  assert.deepEqual(
    kernelArgs({ experimentId: 'e3', kernel: { task: '/w/k', candidate: '/w/k/naive.py', device: 'cpu' }, budgetSeconds: 600, cwd: '/w', protect: ['k/task.json'], gpu: '1', env: { A: 'b' } }),
    ['-m', 'ratchet_harness', 'kernel', '--experiment-id=e3', '--task=/w/k', '--candidate=/w/k/naive.py', '--device=cpu', '--gpu=1',
      '--budget-seconds=600', '--worker-timeout=600', '--cwd=/w', '--env=A=b', '--protect', './k/task.json'],
  );
  assert.ok(kernelArgs({ experimentId: 'e', kernel: { problem: 'p', candidate: 'p/s.json' }, budgetSeconds: 5, cwd: '.', protect: [] }).includes('--problem=p'));
  // Each repeat's seed gives the harness fresh random inputs; seed 0 keeps the task's own.
  assert.ok(kernelArgs({ experimentId: 'e', kernel: { task: 't', candidate: 't/c.py' }, budgetSeconds: 5, cwd: '.', protect: [], seed: 2 }).includes('--seed=2'));
  assert.ok(!kernelArgs({ experimentId: 'e', kernel: { task: 't', candidate: 't/c.py' }, budgetSeconds: 5, cwd: '.', protect: [], seed: 0 }).some((a) => a.startsWith('--seed')));

  const reader = new ProtocolReader('e1', { output: () => undefined }, '');
  reader.push(
    ev('start', 0, { mode: 'kernel', environment: {} }) +
      ev('metric', 1, { name: 'time_ms', value: 2.5, source: 'harness', shape: '64x256' }) +
      ev('metric', 2, { name: 'sol_score', value: null, source: 'harness', shape: '64x256' }) +
      ev('metric', 3, { name: 'speedup', value: 1.5, source: 'harness' }) +
      ev('audit', 4, { check: 'correctness', verdict: 'fail', message: 'wrong result: output 0: 12% of elements outside atol=0.001 rtol=0.0001', evidence: { failures: [{ shape: '64x256' }] } }) +
      ev('audit', 5, { check: 'input_mutation', verdict: 'fail', message: 'candidate changed its inputs', evidence: {} }) +
      ev('audit', 6, { check: 'reference_drift', verdict: 'warn', message: 'drifted', evidence: {} }) +
      ev('end', 7, { reason: 'failed', exit_code: 1, signal: null, wall_seconds: 1 }),
  );
  assert.deepEqual(Object.keys(reader.metrics), ['time_ms/64x256', 'sol_score/64x256', 'speedup']);
  assert.ok(Number.isNaN(reader.metrics['sol_score/64x256']));
  assert.equal(reader.failure, 'incorrect on shape 64x256: wrong result: output 0: 12% of elements outside atol=0.001 rtol=0.0001');
  assert.deepEqual(reader.audit.map((a) => [a.check, a.severity]), [['input_mutation', 'hack'], ['reference_drift', 'warning']]);
});
