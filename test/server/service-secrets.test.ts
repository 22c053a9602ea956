// A search started from the editor keeps its secrets: the names of `ratchet.scrubEnv` never reach
// the runs (on resume too), and the key from the editor's secret storage — which is in no
// environment variable — is blanked wherever a run's output goes: run logs, the journal, the
// editor's log lines and the model's prompts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { ModelConfig } from '../../src/engine/llm/config';
import { registerBuiltInProposers } from '../../src/engine/proposers/builtin';
import type { EditorBridge } from '../../src/server/modelSetup';
import { RatchetService } from '../../src/server/service';
import { makeRepo, tempDir, waitFor } from '../helpers';
import { startOpenAiServer } from '../helpers/model-servers';

const KEY = 'sk-editor-secret-0123456789abcdef';
const TOKEN = 'svc-listed-token-9876543210';
registerBuiltInProposers();

// Reports whether it sees MY_SERVICE_TOKEN; with LR = 0.3 it crashes quoting a credentials file
// that holds the editor's key (a key can reach a run some other way than its environment).
const SCRIPT = `import os
LR = 0.5
print(f"saw MY_SERVICE_TOKEN: {'yes' if 'MY_SERVICE_TOKEN' in os.environ else 'no'}")
if LR == 0.3:
    raise RuntimeError("refused: " + open(os.environ["KEY_FILE"]).read().strip())
print(f"val_loss: {(LR - 0.1) ** 2:.6f}")
`;

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

test('an editor search scrubs ratchet.scrubEnv from its runs and blanks the editor\'s key from runs, journal, log lines and prompts', async (t) => {
  const keyFile = path.join(tempDir(t), 'credentials');
  writeFileSync(keyFile, `${KEY}\n`);
  const saved = { KEY_FILE: process.env.KEY_FILE, MY_SERVICE_TOKEN: process.env.MY_SERVICE_TOKEN };
  process.env.KEY_FILE = keyFile;
  process.env.MY_SERVICE_TOKEN = TOKEN;
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  });

  let asked = 0;
  const server = await startOpenAiServer([], {
    otherwise: () => {
      const value = [0.3, 0.2, 0.15][asked++ % 3]!;
      return ['### Hypothesis', `LR ${value}`, '### Edits', 'train.py', '<<<<<<< SEARCH', 'LR = 0.5', '=======', `LR = ${value}`, '>>>>>>> REPLACE', ''].join('\n');
    },
  });
  t.after(() => server.close());
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const logs: string[] = [];
  const bridge: EditorBridge = {
    apiKey: async () => KEY,
    chatModel: (config: ModelConfig) => {
      throw new Error(`no editor models in this test (${config.model})`);
    },
  };
  const service = new RatchetService(() => [repo], { updated: () => undefined, log: (_id, text) => logs.push(text) }, bridge);

  const info = await service.startSearch({
    file: path.join(repo, 'train.py'),
    proposer: 'llm',
    model: { name: 'openai:test-model', baseUrl: server.url },
    apiKey: KEY,
    threads: 1,
    parallel: 1,
    maxExperiments: 1,
    scrubEnv: ['MY_SERVICE_TOKEN'],
  });
  await waitFor(() => !service.isLive(info.id), 60_000, 'the search to stop');
  // Resumed without the setting: the stored names still apply.
  await service.resumeSearch({ searchId: info.id });
  await waitFor(() => !service.isLive(info.id), 60_000, 'the resumed search to stop');

  const dir = path.join(repo, '.ratchet', 'searches', info.id);
  const settings = JSON.parse(readFileSync(path.join(dir, 'search.json'), 'utf8'));
  assert.ok(settings.scrubEnv.includes('MY_SERVICE_TOKEN'), JSON.stringify(settings.scrubEnv));

  const experiments = await service.experiments({ searchId: info.id });
  const crashed = experiments.find((e) => e.status === 'failed');
  assert.ok(crashed, experiments.map((e) => `${e.id} ${e.status} ${e.reason ?? ''}`).join('\n'));
  assert.match(crashed.reason ?? '', /refused: \[redacted\]/);
  assert.ok(experiments.length >= 3, 'the resumed search ran another experiment');

  const runLogs = allFiles(path.join(dir, 'logs')).filter((f) => f.endsWith('.log'));
  assert.ok(runLogs.length >= 3);
  for (const f of runLogs) assert.match(readFileSync(f, 'utf8'), /saw MY_SERVICE_TOKEN: no/, f);

  for (const f of allFiles(path.join(repo, '.ratchet'))) {
    const text = readFileSync(f, 'utf8');
    assert.ok(!text.includes(KEY) && !text.includes(TOKEN), `${f} holds a secret`);
  }
  assert.ok(logs.some((l) => l.includes('refused: [redacted]')), 'the run log lines reach the editor, blanked');
  assert.ok(!logs.join('\n').includes(KEY), 'the key is in no log line');
  assert.ok(server.requests.length >= 2);
  for (const q of server.requests) {
    assert.equal(q.headers.authorization, `Bearer ${KEY}`);
    assert.ok(!JSON.stringify(q.body).includes(KEY), 'the key reached a prompt');
  }
  assert.ok(server.requests.some((q) => JSON.stringify(q.body).includes('refused: [redacted]')), 'the crash, blanked, is in a later prompt');
});
