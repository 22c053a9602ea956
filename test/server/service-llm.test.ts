// A search started from the editor with the llm proposer: the settings become the stored model
// config, the key from the editor's secret storage reaches the model server's Authorization header
// (on start, and again on resume, when the server asks the editor for it), and is written nowhere.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { RatchetError } from '../../src/engine/errors';
import type { ModelConfig } from '../../src/engine/llm/config';
import { registerBuiltInProposers } from '../../src/engine/proposers/builtin';
import type { EditorBridge } from '../../src/server/modelSetup';
import { RatchetService } from '../../src/server/service';
import { makeRepo, QUADRATIC_SCRIPT, waitFor } from '../helpers';
import { isReviewRequest, REVIEW_KEEP, startOpenAiServer } from '../helpers/model-servers';

const KEY = 'sk-ratchet-test-0123456789abcdef';
registerBuiltInProposers(); // as the server's main does

/** An answer that moves LR towards 0.1, found in the file as the prompt shows it. */
function lrAnswer(prompt: string, value: number): string {
  const lines = prompt.split('\n').filter((l) => /^LR = \S+$/.test(l));
  const current = lines[lines.length - 1] ?? 'LR = 0.5';
  return ['### Hypothesis', `A learning rate of ${value} is closer to the optimum.`, '### Edits', 'train.py', '<<<<<<< SEARCH', current, '=======', `LR = ${value}`, '>>>>>>> REPLACE', ''].join('\n');
}

/** Every file under `dir`, recursively, as text. */
function allText(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    out += statSync(p).isDirectory() ? allText(p) : readFileSync(p, 'utf8');
  }
  return out;
}

test('an llm search from the editor: settings stored without the key, the key sent to the model, again on resume', async (t) => {
  let asked = 0;
  const server = await startOpenAiServer([], {
    otherwise: (body) => {
      const user = body.messages.filter((m: { role: string }) => m.role === 'user');
      return lrAnswer(String(user[user.length - 1].content), [0.3, 0.2, 0.15, 0.12, 0.11, 0.105][asked++ % 6]!);
    },
  });
  t.after(() => server.close());
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const logs: string[] = [];
  const keysAsked: string[] = [];
  const bridge: EditorBridge = {
    apiKey: async (provider) => (keysAsked.push(provider), KEY),
    chatModel: (config: ModelConfig) => {
      throw new Error(`no editor models in this test (${config.model})`);
    },
  };
  const service = new RatchetService(() => [repo], { updated: (_id, kind, message) => logs.push(`${kind} ${message ?? ''}`), log: (_id, text) => logs.push(text) }, bridge);
  const finished = () => logs.filter((l) => l.startsWith('experiment-finished')).length;

  const info = await service.startSearch({
    file: path.join(repo, 'train.py'),
    proposer: 'llm',
    model: { name: 'openai:test-model', baseUrl: server.url, price: '1/2', contextTokens: 8000 },
    budget: { tokens: 1_000_000 },
    threads: 2,
    apiKey: KEY,
    parallel: 1,
    maxExperiments: 6,
  });
  assert.equal(info.running, true);
  assert.deepEqual(keysAsked, [], 'the key came with the request');
  // Stop once a proposal has been measured, to resume below.
  await waitFor(() => finished() >= 2, 60_000, 'the baseline and a first experiment');
  await service.stopSearch({ searchId: info.id });
  const beforeResume = server.requests.length;

  const settings = JSON.parse(readFileSync(path.join(repo, '.ratchet/searches', info.id, 'search.json'), 'utf8'));
  assert.equal(settings.proposer, 'llm');
  assert.equal(settings.threads, 2);
  assert.deepEqual(settings.proposerOptions, {
    model: { provider: 'openai', model: 'test-model', baseUrl: server.url, price: { inputPerMTok: 1, outputPerMTok: 2 }, contextTokens: 8000 },
    budget: { maxTokens: 1_000_000 },
    guidance: path.join(repo, 'ratchet.guidance.md'),
  });

  const resumed = await service.resumeSearch({ searchId: info.id, budget: { tokens: 2_000_000 } });
  assert.equal(resumed.id, info.id);
  assert.deepEqual(keysAsked, ['openai'], 'the server asked the editor for the key again');
  await waitFor(() => !service.isLive(info.id), 120_000, 'the resumed search to stop');
  assert.ok(server.requests.length > beforeResume, 'the resumed search asked the model');

  const experiments = await service.experiments({ searchId: info.id });
  const kept = experiments.filter((e) => e.status === 'kept');
  assert.ok(kept.length >= 1, experiments.map((e) => `${e.id} ${e.status} ${e.reason ?? ''}`).join('\n'));
  assert.ok(logs.some((l) => /proposer llm, model openai:test-model/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => / resumed /.test(l)));

  // The editor's "Edit Research Guidance" and "Open Research Notes" open these.
  const files = await service.researchFiles({ searchId: info.id });
  assert.equal(files.guidance, path.join(repo, 'ratchet.guidance.md'));
  assert.equal(files.notes, path.join(repo, '.ratchet', 'searches', info.id, 'notes.md'));

  for (const q of server.requests) assert.equal(q.headers.authorization, `Bearer ${KEY}`);
  const written = allText(path.join(repo, '.ratchet'));
  assert.match(written, /test-model/, 'the scan reads the journal');
  assert.ok(!written.includes(KEY), 'the key is in no file under .ratchet (search.json, journal, logs, notes)');
  assert.ok(!logs.join('\n').includes(KEY), 'the key is in no log line or update');
});

test('ratchet.model.review off is stored with the search and asks no review; switched on again, the resumed search is reviewed', async (t) => {
  const server = await startOpenAiServer([], {
    otherwise: (body) => {
      if (isReviewRequest(body)) return REVIEW_KEEP;
      const user = body.messages.filter((m: { role: string }) => m.role === 'user');
      return lrAnswer(String(user[user.length - 1].content), 0.1 + 0.1 / server.requests.length);
    },
  });
  t.after(() => server.close());
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const logs: string[] = [];
  const service = new RatchetService(() => [repo], { updated: () => undefined, log: (_id, text) => logs.push(text) });
  const model = { name: 'openai:test-model', baseUrl: server.url, review: false };
  const info = await service.startSearch({ file: path.join(repo, 'train.py'), proposer: 'llm', model, apiKey: KEY, maxExperiments: 1 });
  await waitFor(() => !service.isLive(info.id), 60_000, 'the search to stop');
  const settings = JSON.parse(readFileSync(path.join(repo, '.ratchet/searches', info.id, 'search.json'), 'utf8'));
  assert.equal(settings.proposerOptions.review, false);
  assert.ok(logs.some((l) => /started \(proposer llm, model openai:test-model\)/.test(l)), logs.join('\n'));
  assert.ok(!server.requests.some((q) => isReviewRequest(q.body)), 'no review was asked for');

  // Resuming without the setting keeps what is stored; with it on, the model reviews again.
  await service.resumeSearch({ searchId: info.id });
  await waitFor(() => !service.isLive(info.id), 60_000, 'the resumed search to stop');
  assert.match(logs.filter((l) => / resumed /.test(l)).at(-1)!, /model openai:test-model\)/);
  await service.resumeSearch({ searchId: info.id, review: true });
  await waitFor(() => !service.isLive(info.id), 60_000, 'the search resumed with reviews to stop');
  assert.match(logs.filter((l) => / resumed /.test(l)).at(-1)!, /model openai:test-model, reviewed by the model\)/);
});

test('settings that cannot work are refused before anything starts, naming the setting', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const service = new RatchetService(() => [repo], { updated: () => undefined, log: () => undefined });
  const start = (over: object) => service.startSearch({ file: path.join(repo, 'train.py'), proposer: 'llm', ...over });
  const refused = (pattern: RegExp) => (e: unknown) => e instanceof RatchetError && pattern.test(e.describe());
  await assert.rejects(start({}), refused(/needs a model[\s\S]*ratchet\.model\.name/));
  await assert.rejects(start({ model: { name: 'gpt-4o' } }), refused(/cannot read the model "gpt-4o" \(ratchet\.model\.name\)/));
  await assert.rejects(start({ model: { name: 'openai:m', price: 'cheap' } }), refused(/ratchet\.model\.price[\s\S]*0\.15\/0\.6/));
  await assert.rejects(start({ model: { name: 'openai:m' }, budget: { usd: 5 } }), refused(/needs the model's price/));
  // Without a key anywhere, the fix is the command, not an environment variable.
  const env = process.env.OPENAI_API_KEY;
  delete process.env.OPENAI_API_KEY;
  t.after(() => (env === undefined ? undefined : void (process.env.OPENAI_API_KEY = env)));
  await assert.rejects(start({ model: { name: 'openai:gpt-4o-mini' } }), refused(/No OpenAI API key[\s\S]*Ratchet: Set Model API Key/));
  await assert.rejects(start({ model: { name: 'vscode:copilot/gpt-4o' } }), refused(/only from the editor/));
  assert.deepEqual(readdirSync(repo).filter((f) => f === '.ratchet' && readdirSync(path.join(repo, f)).includes('searches')), []);
});
