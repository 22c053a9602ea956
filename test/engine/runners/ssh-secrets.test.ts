// On an SSH host a run's environment is the host's own: the names a search scrubs are dropped from
// it by the harness there, and a known secret the host's run prints anyway is blanked here.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SshRunner } from '../../../src/engine/runners/ssh';
import { scrubNames, Secrets } from '../../../src/engine/secrets/secrets';
import { clientKeys, HARNESS_DIR, makeRepo, Sshd, sshConfig, sshdMissing, tempDir } from './ssh-fixture';

const skip = sshdMissing();

const SECRET = 'host-wandb-key-5e1f9a3c7b';

const SCRIPT = `import os
for name in ("WANDB_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
    print(f"saw {name}: {'yes' if name in os.environ else 'no'}")
print("copy:", os.environ.get("WANDB_KEY_COPY", "absent"))
print("val_bpb: 1.5")
`;

test('a train run on a host does not see the scrubbed names of the host\'s environment, and its output is blanked', { skip }, async (t) => {
  const keys = clientKeys(t);
  const dir = tempDir(t);
  const knownHosts = path.join(dir, 'known_hosts');
  // The host's own sessions hold the key, under a scrubbed name and under one nobody listed.
  const sshd = await Sshd.start(t, {
    authorizedKeys: keys.authorizedKeys,
    setEnv: { WANDB_API_KEY: SECRET, WANDB_KEY_COPY: SECRET, OPENAI_API_KEY: 'sk-host-own-key-123456', HF_TOKEN: 'hf_host' },
  });
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const runner = new SshRunner({
    hosts: ['h1'],
    sshConfigFile: sshConfig(dir, [{ alias: 'h1', port: sshd.port, key: keys.key }], knownHosts),
    harnessDir: HARNESS_DIR,
    remoteRoot: path.join(dir, 'remote'),
    killGraceMs: 500,
  });
  t.after(() => runner.close());
  await runner.start();

  // The search knows the key's value from its own environment.
  const secrets = Secrets.of(scrubNames({ listed: ['WANDB_API_KEY'] }), { WANDB_API_KEY: SECRET });
  const logPath = path.join(dir, 'logs', 'e0-s0.log');
  const r = await runner.run({
    experimentId: 'e0',
    seed: 0,
    repoRoot: repo.dir,
    commit: repo.base,
    baseCommit: repo.base,
    cwd: '',
    command: 'python3 train.py',
    env: {},
    scrubEnv: secrets.names.slice(),
    redact: secrets.redact,
    timeoutMs: 60_000,
    protected: [],
    logPath,
    slot: runner.slots()[0]!,
    signal: new AbortController().signal,
  });
  assert.equal(r.exitCode, 0, r.outputTail + (r.spawnError ?? ''));
  assert.match(r.outputTail, /saw WANDB_API_KEY: no/);
  assert.match(r.outputTail, /saw OPENAI_API_KEY: no/);
  assert.match(r.outputTail, /saw HF_TOKEN: yes/);
  assert.match(r.outputTail, /copy: \[redacted\]/);
  const log = readFileSync(logPath, 'utf8');
  assert.match(log, /copy: \[redacted\]/);
  assert.ok(!log.includes(SECRET) && !r.outputTail.includes(SECRET));
});
