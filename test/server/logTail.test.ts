import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { LogTail } from '../../src/server/logTail';

test('a log tail hands over whole lines as they are appended, and the last line on stop', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ratchet-tail-'));
  try {
    const file = path.join(dir, 'e1-s0.log');
    const lines: string[] = [];
    const tail = new LogTail(file, (l) => lines.push(l), 60_000);
    tail.poll(); // the file does not exist yet
    appendFileSync(file, 'step 1\nstep 2\nval_');
    tail.poll();
    assert.deepEqual(lines, ['step 1', 'step 2']);
    appendFileSync(file, 'loss: 1.27');
    tail.stop();
    assert.deepEqual(lines, ['step 1', 'step 2', 'val_loss: 1.27']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
