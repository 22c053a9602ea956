import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JournalWriter, readJournal, type JournalRecord } from '../../src/engine/journal/journal';
import { acquireLock, readLock } from '../../src/engine/journal/store';
import { RatchetError } from '../../src/engine/errors';
import { makeRepo, tempDir } from '../helpers';

const rec = (reason: string): JournalRecord => ({ type: 'search-stopped', at: '2026-01-01T00:00:00Z', reason });

test('records are appended as one JSON line each and read back in order', (t) => {
  const file = path.join(tempDir(t), 'journal.jsonl');
  const w = new JournalWriter(file);
  w.append(rec('a'));
  w.append(rec('b'));
  w.close();
  assert.deepEqual(readJournal(file).records.map((r) => (r as { reason: string }).reason), ['a', 'b']);
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 3);
});

test('a torn last line from a crash is skipped by readers and cut by the next writer', (t) => {
  const file = path.join(tempDir(t), 'journal.jsonl');
  const w = new JournalWriter(file);
  w.append(rec('kept'));
  w.close();
  appendFileSync(file, '{"type":"search-stopped","at":"2026-01-01T00:00:00Z","rea');
  const read = readJournal(file);
  assert.equal(read.records.length, 1);
  assert.ok(read.tornBytes > 0);
  const w2 = new JournalWriter(file);
  w2.append(rec('after'));
  w2.close();
  assert.deepEqual(readJournal(file).records.map((r) => (r as { reason: string }).reason), ['kept', 'after']);
  assert.equal(readJournal(file).tornBytes, 0);
});

test('a full disk gives a clear error and leaves earlier records intact', (t) => {
  // /dev/full answers every write with ENOSPC, exactly like a full disk.
  const dir = tempDir(t);
  const file = path.join(dir, 'journal.jsonl');
  symlinkSync('/dev/full', file);
  const w = new JournalWriter(file);
  assert.throws(
    () => w.append(rec('x')),
    (e: RatchetError) => e.code === 'DISK_FULL' && /disk full/.test(e.message) && /--resume/.test(e.hint ?? ''),
  );
  w.close();

  const real = path.join(dir, 'real.jsonl');
  writeFileSync(real, JSON.stringify(rec('earlier')) + '\n');
  assert.equal(readJournal(real).records.length, 1);
});

test('a second lock on the same file names the search holding it; a dead holder is taken over', (t) => {
  const repo = makeRepo(t, { 'a.py': '' });
  const release = acquireLock(repo, 'a.py', 's1');
  assert.throws(() => acquireLock(repo, 'a.py', 's2'), /already running \(search s1, process \d+\)/);
  assert.equal(readLock(repo, 'a.py')?.searchId, 's1');
  release();
  assert.equal(readLock(repo, 'a.py'), undefined);
  // A lock left by a process that no longer exists.
  const again = acquireLock(repo, 'a.py', 's3');
  again();
  writeFileSync(path.join(repo, '.ratchet/locks/a.py.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, searchId: 'ghost' }));
  const taken = acquireLock(repo, 'a.py', 's4');
  assert.equal(readLock(repo, 'a.py')?.searchId, 's4');
  taken();
});
