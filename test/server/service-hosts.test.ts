// A search started from the editor with the `ratchet.hosts` setting runs on those hosts: the
// language server builds the same SSH runner as `ratchet search --host`, against a real sshd.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { RatchetService } from '../../src/server/service';
import { RatchetError } from '../../src/engine/errors';
import { clientKeys, hostAndReplayRepo, makeRepo, Sshd, sshConfig, sshdMissing, tempDir } from '../engine/runners/ssh-fixture';

const skip = sshdMissing();

function service(root: string): RatchetService {
  return new RatchetService(() => [root], { updated: () => undefined, log: () => undefined });
}

async function untilStopped(s: RatchetService, id: string): Promise<void> {
  while ((await s.searches()).find((x) => x.id === id)?.running) await new Promise((r) => setTimeout(r, 100));
}

test('a search started with hosts runs its experiments on them', { skip }, async (t) => {
  const { config, repo, patches } = await hostAndReplayRepo(t, 'gpubox');
  const s = service(repo.dir);
  const info = await s.startSearch({ file: path.join(repo.dir, 'train.py'), proposer: 'replay', patches, hosts: ['gpubox'], sshConfigFile: config });
  await untilStopped(s, info.id);
  const exps = await s.experiments({ searchId: info.id });
  assert.deepEqual(exps.map((e) => [e.id, e.status]), [['e0', 'baseline'], ['e1', 'kept']]);
  const [id] = readdirSync(path.join(repo.dir, '.ratchet', 'searches'));
  const journal = readFileSync(path.join(repo.dir, '.ratchet', 'searches', id!, 'journal.jsonl'), 'utf8');
  const slots = [...journal.matchAll(/"slot":"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(slots.length >= 2 && slots.every((x) => x === 'gpubox:cpu'), `runs ran on ${slots.join(', ')}`);
});

test('a host whose key is unknown is refused, not trusted, when nobody can be asked', { skip }, async (t) => {
  const keys = clientKeys(t);
  const sshd = await Sshd.start(t, { authorizedKeys: keys.authorizedKeys });
  const dir = tempDir(t);
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, '');
  const config = sshConfig(dir, [{ alias: 'stranger', port: sshd.port, key: keys.key }], knownHosts);
  const repo = makeRepo(t, { 'train.py': 'LR = 0.5\nprint(f"val_bpb: {1 + LR:.4f}")\n' });
  const s = service(repo.dir);
  await assert.rejects(s.startSearch({ file: path.join(repo.dir, 'train.py'), hosts: ['stranger'], sshConfigFile: config }), (e: RatchetError) => {
    assert.match(e.message, /host key of .* is not in known_hosts/);
    assert.match(e.hint ?? '', /connect once with `ssh HOST`/);
    return true;
  });
  assert.equal(readFileSync(knownHosts, 'utf8'), '', 'nothing was recorded');
});
