// `ratchet search FILE --host ALIAS`, end to end: the CLI connects to a real sshd on loopback, runs
// the baseline and a replayed patch there, and records where each run ran and what it sent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { hostAndReplayRepo, REPO, sshdMissing } from './ssh-fixture';

const skip = sshdMissing();

function cli(cwd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, path.join(REPO, 'src', 'cli', 'main.ts'), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('ratchet search --host runs the search on an SSH host and keeps the better patch', { skip }, async (t) => {
  const { config, repo, patches } = await hostAndReplayRepo(t, 'gpubox');
  const r = await cli(repo.dir, ['search', 'train.py', '--host', 'gpubox', '--ssh-config', config, '--proposer', 'replay', '--patches', patches, '--repeats', '2', '--budget', '60', '--metric', 'val_bpb']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /gpubox: 1 slot/);
  assert.match(r.out, /best\s+e1\s+val_bpb 1\.1/);
  const searches = path.join(repo.dir, '.ratchet', 'searches');
  const [id] = readdirSync(searches);
  const journal = readFileSync(path.join(searches, id!, 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; experiment?: { id: string; runs: { slot: string; bytesSent?: number }[] } });
  const e1 = journal.find((j) => j.type === 'experiment' && j.experiment!.id === 'e1')!.experiment!;
  assert.equal(e1.runs[0]!.slot, 'gpubox:cpu');
  assert.ok(e1.runs[0]!.bytesSent! > 0 && e1.runs[0]!.bytesSent! < 4096);
});
