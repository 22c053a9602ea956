// Secrets never reach a run, and never reach what a search keeps: a real search through the built
// CLI, on a real git repository, with real Python runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { makeRepo, runCli, tempDir, writeFiles } from '../helpers';

// Says which variables it can see (never their values). With FAIL set, seed 0 crashes with an error
// that quotes what it finds in the environment and what a key file on the machine holds: a key
// can reach a run some other way than its environment (a dotfile, a host's own settings).
const SCRIPT = `import os
LR = 0.5
FAIL = False
seed = int(os.environ.get("RATCHET_SEED", "0"))
for name in ("OPENAI_API_KEY", "MY_SERVICE_TOKEN", "HF_TOKEN"):
    print(f"saw {name}: {'yes' if name in os.environ else 'no'}")
if FAIL and seed == 0:
    with open(os.environ["KEY_FILE"]) as f:
        found = f.read().strip()
    raise RuntimeError(f"bad config: OPENAI_API_KEY={os.environ.get('OPENAI_API_KEY', 'absent')} MY_SERVICE_TOKEN={os.environ.get('MY_SERVICE_TOKEN', 'absent')}, key file: {found}")
print(f"val_loss: {(LR - 0.1) ** 2 + seed * 1e-4:.6f}")
`;

const FAIL_PATCH = `Turn on the failing configuration
--- a/train.py
+++ b/train.py
@@ -1,4 +1,4 @@
 import os
 LR = 0.5
-FAIL = False
+FAIL = True
 seed = int(os.environ.get("RATCHET_SEED", "0"))
`;

const LR_PATCH = `LR 0.5 -> 0.2
--- a/train.py
+++ b/train.py
@@ -1,3 +1,3 @@
 import os
-LR = 0.5
+LR = 0.2
 FAIL = False
`;

/** Every file under a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('a search\'s runs never see the model key or listed variables, and no secret lands in anything under .ratchet/', async (t) => {
  const key = `sk-test-${randomBytes(12).toString('hex')}`;
  const token = `svc-${randomBytes(12).toString('hex')}`;
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const outside = tempDir(t);
  const keyFile = path.join(outside, 'credentials');
  writeFileSync(keyFile, `${key} ${token}\n`);
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': FAIL_PATCH, '2.patch': LR_PATCH });
  const env = { OPENAI_API_KEY: key, MY_SERVICE_TOKEN: token, HF_TOKEN: 'hf_needed_by_the_script', KEY_FILE: keyFile };

  const first = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches, '--repeats', '2', '--scrub-env', 'MY_SERVICE_TOKEN', '--max-runs', '1'], env);
  assert.equal(first.code, 0, first.stderr);
  // A resumed search scrubs the same names without being told again.
  const resumed = await runCli(repo, ['search', '--resume'], env);
  assert.equal(resumed.code, 0, resumed.stderr);

  const searchDir = path.join(repo, '.ratchet', 'searches', readdirSync(path.join(repo, '.ratchet', 'searches'))[0]!);
  const settings = JSON.parse(readFileSync(path.join(searchDir, 'search.json'), 'utf8')) as { scrubEnv: string[] };
  assert.deepEqual([...settings.scrubEnv].sort(), ['ANTHROPIC_API_KEY', 'MY_SERVICE_TOKEN', 'OPENAI_API_KEY']);

  // Every run, the resumed search's included, saw neither secret variable, and saw the unlisted one.
  const logs = readdirSync(path.join(searchDir, 'logs')).filter((f) => f.endsWith('.log'));
  const ran = new Set(logs.map((f) => f.replace(/-s\d+\.log$/, '')));
  assert.deepEqual([...ran].sort(), ['e0', 'e1', 'e2']);
  for (const log of logs) {
    const text = readFileSync(path.join(searchDir, 'logs', log), 'utf8');
    assert.match(text, /saw OPENAI_API_KEY: no/, log);
    assert.match(text, /saw MY_SERVICE_TOKEN: no/, log);
    assert.match(text, /saw HF_TOKEN: yes/, log);
  }

  // The crash is recorded with its error, the environment's answer in it, the key file's blanked.
  const exps = experimentsOf(readJournal(path.join(searchDir, 'journal.jsonl')).records);
  const failed = exps.find((e) => e.id === 'e1')!;
  assert.equal(failed.verdict.kind, 'failed');
  const reason = (failed.verdict as { reason: string }).reason;
  assert.match(reason, /OPENAI_API_KEY=absent MY_SERVICE_TOKEN=absent, key file: \[redacted\] \[redacted\]/);
  assert.match(String(failed.meta?.logTail), /key file: \[redacted\] \[redacted\]/);

  for (const file of filesUnder(path.join(repo, '.ratchet'))) {
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(key), `${file} holds the model key`);
    assert.ok(!text.includes(token), `${file} holds the listed variable's value`);
  }
  for (const out of [first.stdout, first.stderr, resumed.stdout, resumed.stderr]) {
    assert.ok(!out.includes(key) && !out.includes(token), 'a secret reached the terminal');
  }
});

test('a name that is not an environment variable\'s is refused before anything runs', async (t) => {
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const r = await runCli(repo, ['search', 'train.py', '--scrub-env', 'HF_TOKEN=abc']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not an environment variable name: "HF_TOKEN=abc"/);
});
