import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkHostKey, entryMatches, fingerprint, hostToken, KnownHosts, keyTypeOf, parseKnownHosts } from '../../../src/engine/runners/ssh/known-hosts';
import { keygen, tempDir } from './ssh-fixture';

function wireKey(pubLine: string): Buffer {
  return Buffer.from(pubLine.split(' ')[1]!, 'base64');
}

test('hostToken follows OpenSSH: bare name on port 22, [name]:port otherwise', () => {
  assert.equal(hostToken('gpu1', 22), 'gpu1');
  assert.equal(hostToken('10.0.0.5', 2222), '[10.0.0.5]:2222');
});

test('plain entries match by pattern lists, wildcards and negations', () => {
  const [e] = parseKnownHosts('gpu*.lab,!gpu9.lab,[10.0.0.5]:2222 ssh-ed25519 AAAA\n', 'kh');
  assert.ok(entryMatches(e!, 'gpu1.lab'));
  assert.ok(entryMatches(e!, 'GPU2.LAB'));
  assert.ok(!entryMatches(e!, 'gpu9.lab'));
  assert.ok(entryMatches(e!, '[10.0.0.5]:2222'));
  assert.ok(!entryMatches(e!, '10.0.0.5'));
});

test('hashed entries written by ssh-keygen -H match their host and port only', (t) => {
  const dir = tempDir(t);
  const pub = keygen(path.join(dir, 'k'));
  const kh = path.join(dir, 'known_hosts');
  writeFileSync(kh, `[127.0.0.1]:2222 ${pub}\ngpu1 ${pub}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', kh]);
  const entries = parseKnownHosts(readFileSync(kh, 'utf8'), kh);
  assert.equal(entries.length, 2);
  assert.ok(entries.every((e) => e.hosts.startsWith('|1|')));
  assert.ok(entryMatches(entries[0]!, '[127.0.0.1]:2222'));
  assert.ok(!entryMatches(entries[0]!, '[127.0.0.1]:2223'));
  assert.ok(entryMatches(entries[1]!, 'gpu1'));
  const key = wireKey(pub);
  assert.equal(checkHostKey(entries, ['[127.0.0.1]:2222'], keyTypeOf(key), key.toString('base64')).kind, 'known');
});

test('a different key for a known host is a change; a revoked key is refused; a new host is unknown', (t) => {
  const dir = tempDir(t);
  const a = keygen(path.join(dir, 'a'));
  const b = keygen(path.join(dir, 'b'));
  const keyB = wireKey(b);
  const entries = parseKnownHosts(`gpu1 ${a}\n@revoked * ${b}\n@cert-authority * ${a}\n`, 'kh');
  assert.equal(checkHostKey(entries, ['gpu1'], 'ssh-ed25519', wireKey(a).toString('base64')).kind, 'known');
  assert.equal(checkHostKey(entries, ['gpu2'], 'ssh-ed25519', wireKey(a).toString('base64')).kind, 'unknown');
  assert.equal(checkHostKey(entries, ['gpu1'], 'ssh-ed25519', keyB.toString('base64')).kind, 'revoked');
  const c = wireKey(keygen(path.join(dir, 'c')));
  const changed = checkHostKey(entries, ['gpu1'], 'ssh-ed25519', c.toString('base64'));
  assert.equal(changed.kind, 'changed');
});

test('an unknown host is asked about once, even by concurrent connections, and then recorded', async (t) => {
  const dir = tempDir(t);
  const key = wireKey(keygen(path.join(dir, 'k')));
  const kh = path.join(dir, 'known_hosts');
  let asked = 0;
  const known = new KnownHosts({
    files: [kh],
    hashNew: true,
    confirm: async (q) => {
      asked++;
      assert.equal(q.fingerprint, fingerprint(key));
      assert.match(q.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      return true;
    },
  });
  await Promise.all([known.verify(['127.0.0.1'], 2200, key), known.verify(['127.0.0.1'], 2200, key)]);
  assert.equal(asked, 1);
  const text = readFileSync(kh, 'utf8');
  assert.match(text, /^\|1\|/);
  // OpenSSH itself finds the recorded entry.
  assert.match(execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2200', '-f', kh], { encoding: 'utf8' }), /Host \[127\.0\.0\.1\]:2200 found/);
  const again = new KnownHosts({ files: [kh], confirm: async () => assert.fail('must not ask again') });
  await again.verify(['127.0.0.1'], 2200, key);
});

test('a declined host is refused and not recorded; a changed key names the line and the fix', async (t) => {
  const dir = tempDir(t);
  const kh = path.join(dir, 'known_hosts');
  const oldKey = keygen(path.join(dir, 'old'));
  const newKey = wireKey(keygen(path.join(dir, 'new')));
  const declining = new KnownHosts({ files: [kh], confirm: async () => false });
  await assert.rejects(declining.verify(['gpu1'], 22, newKey), /not in known_hosts and was not accepted/);
  writeFileSync(kh, `gpu1 ${oldKey}\n`);
  const known = new KnownHosts({ files: [kh], confirm: async () => assert.fail('a changed key must never be asked about') });
  await assert.rejects(known.verify(['gpu1'], 22, newKey), (e: Error & { hint?: string }) => {
    assert.match(e.message, /CHANGED/);
    assert.match(e.message, new RegExp(`${kh.replace(/[/.]/g, '\\$&')}:1`));
    assert.match(e.hint!, /ssh-keygen -R gpu1/);
    return true;
  });
});
