import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HarnessReader } from '../../../src/engine/runners/ssh/harness-output';

const ev = (type: string, fields: Record<string, unknown>) => `${JSON.stringify({ protocol: 1, type, experiment_id: 'e1', seq: 0, time: 1, ...fields })}\n`;

test('harness events become output lines, audit findings and the end, split anywhere', () => {
  const lines: string[] = [];
  const reader = new HarnessReader({ output: (l) => lines.push(l) });
  const text =
    ev('start', { mode: 'train' }) +
    ev('log', { stream: 'stdout', text: 'val_bpb: 0.9 ✓' }) +
    ev('metric', { name: 'val_bpb', value: 0.9, source: 'output' }) +
    ev('audit', { check: 'protected_files', verdict: 'fail', message: 'changed', evidence: { changed: ['./prepare.py'], removed: [], added: [] } }) +
    'not an event\n' +
    ev('end', { reason: 'failed', exit_code: 3, signal: null, wall_seconds: 1 });
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
  const reader = new HarnessReader({ output: () => undefined });
  reader.push(Buffer.from(`${JSON.stringify({ protocol: 2, type: 'end', reason: 'ok' })}\n`));
  assert.equal(reader.end?.reason, 'error');
  assert.match(reader.end?.message ?? '', /protocol 2/);
});

test('the offset counts only complete lines, so a re-attach resumes at a line start', () => {
  const reader = new HarnessReader({ output: () => undefined });
  const line = ev('log', { stream: 'stdout', text: 'a' });
  reader.push(Buffer.from(line + line.slice(0, 10)));
  assert.equal(reader.offset, Buffer.byteLength(line));
});
