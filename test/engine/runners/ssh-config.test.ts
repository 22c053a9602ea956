import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseTarget, resolveHost } from '../../../src/engine/runners/ssh/config';
import { tempDir } from './ssh-fixture';

test('targets: alias, user@host, user@host:port and [v6]:port', () => {
  assert.deepEqual(parseTarget('gpu1'), { user: undefined, host: 'gpu1', port: undefined });
  assert.deepEqual(parseTarget('me@box'), { user: 'me', host: 'box', port: undefined });
  assert.deepEqual(parseTarget('me@box:2222'), { user: 'me', host: 'box', port: 2222 });
  assert.deepEqual(parseTarget('[::1]:2200'), { user: undefined, host: '::1', port: 2200 });
});

test('targets that could be read as options or hold spaces are refused', () => {
  for (const bad of ['-oProxyCommand=touch /tmp/x', 'me@-x', 'a b', '', '@host', 'h:99999']) {
    assert.throws(() => parseTarget(bad), /ssh target|port out of range/, bad);
  }
});

test('an alias resolves through the ssh config as OpenSSH itself reads it', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'config');
  writeFileSync(
    config,
    [
      'Host gpu1',
      '  HostName 10.1.2.3',
      '  Port 2202',
      '  User alice',
      `  IdentityFile ${dir}/key_a`,
      `  IdentityFile ${dir}/key_b`,
      '  IdentitiesOnly yes',
      '  ProxyJump bastion',
      `  UserKnownHostsFile ${dir}/kh`,
      '  HashKnownHosts yes',
      'Host *',
      '  ConnectTimeout 7',
    ].join('\n'),
  );
  const c = await resolveHost('gpu1', { configFile: config });
  assert.equal(c.hostname, '10.1.2.3');
  assert.equal(c.port, 2202);
  assert.equal(c.user, 'alice');
  assert.deepEqual(c.identityFiles, [`${dir}/key_a`, `${dir}/key_b`]);
  assert.equal(c.identitiesOnly, true);
  assert.equal(c.proxyJump, 'bastion');
  assert.ok(c.knownHostsFiles.includes(`${dir}/kh`));
  assert.equal(c.hashKnownHosts, true);
  assert.equal(c.connectTimeoutMs, 7000);
  // An explicit user and port win over the config, as on ssh's command line.
  const d = await resolveHost('bob@gpu1:2300', { configFile: config });
  assert.equal(d.user, 'bob');
  assert.equal(d.port, 2300);
  assert.equal(d.hostname, '10.1.2.3');
  const plain = await resolveHost('198.51.100.7', { configFile: config });
  assert.equal(plain.port, 22);
  assert.equal(plain.user, os.userInfo().username);
  assert.equal(plain.proxyJump, undefined);
});
