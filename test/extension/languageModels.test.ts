// The extension's side of the editor's models, over fakes of vscode.lm.selectChatModels and the
// message constructors; and the settings and the output channel around the model's key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as vscode from 'vscode';
import { lmChat, LmChatError, type LmAccess, type LmModel } from '../../src/extension/languageModels';
import { budgetSettings, keyedProviderOf, modelSettings } from '../../src/extension/modelSettings';
import { redactingChannel } from '../../src/extension/redact';
import type { LmChatParams } from '../../src/server/protocol';

const never: vscode.CancellationToken = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };

interface Sent {
  messages: string[];
  options: { justification?: string };
}

function model(over: Partial<LmModel<string>> & { answer?: string[]; fail?: Error } = {}, sent: Sent[] = []): LmModel<string> {
  return {
    id: 'gpt-4o-2024',
    vendor: 'copilot',
    family: 'gpt-4o',
    async sendRequest(messages, options) {
      sent.push({ messages, options });
      if (over.fail) throw over.fail;
      return { text: (async function* () { yield* over.answer ?? ['### Hypothesis\n', 'raise LR']; })() };
    },
    // One token a word, so the counts are easy to check.
    countTokens: async (text) => String(text).split(/\s+/).filter(Boolean).length,
    ...over,
  };
}

function lm(models: LmModel<string>[], asked: unknown[] = []): LmAccess<string> {
  return {
    async selectChatModels(s) {
      asked.push(s);
      return models.filter((m) => (!s?.vendor || m.vendor === s.vendor) && (!s?.family || m.family === s.family) && (!s?.id || m.id === s.id));
    },
    user: (text) => `user: ${text}`,
    assistant: (text) => `assistant: ${text}`,
  };
}

const params = (over: Partial<LmChatParams> = {}): LmChatParams => ({
  selector: { vendor: 'copilot', family: 'gpt-4o' },
  system: 'Be brief.',
  messages: [
    { role: 'user', content: 'Propose a change.' },
    { role: 'assistant', content: 'bad answer' },
    { role: 'user', content: 'Again, in the format.' },
  ],
  maxTokens: 100,
  ...over,
});

test('the system text opens the first user message, the answer is collected and both sides are counted', async () => {
  const sent: Sent[] = [];
  const r = await lmChat(lm([model({}, sent)]), params(), never);
  assert.deepEqual(sent[0]!.messages, ['user: Be brief.\n\nPropose a change.', 'assistant: bad answer', 'user: Again, in the format.']);
  assert.match(sent[0]!.options.justification!, /Ratchet/);
  assert.equal(r.text, '### Hypothesis\nraise LR');
  assert.equal(r.model, 'copilot/gpt-4o');
  // countTokens of each message as sent ("user: Be brief. Propose a change." is 6 words, …), then of the answer.
  assert.equal(r.inputTokens, 6 + 3 + 5);
  assert.equal(r.outputTokens, 4);
});

test('a name that is no family is tried as a model id', async () => {
  const asked: unknown[] = [];
  const r = await lmChat(lm([model()], asked), params({ selector: { family: 'gpt-4o-2024' } }), never);
  assert.equal(r.model, 'copilot/gpt-4o');
  assert.deepEqual(asked, [{ family: 'gpt-4o-2024' }, { id: 'gpt-4o-2024' }]);
});

test('no models at all: install a chat extension, or use a keyed provider', async () => {
  await assert.rejects(lmChat(lm([]), params(), never), (e: unknown) => {
    assert.ok(e instanceof LmChatError);
    assert.equal(e.code, 'MODEL_EDITOR_NONE');
    assert.match(e.hint, /Copilot/);
    assert.match(e.hint, /Ratchet: Set Model API Key/);
    return true;
  });
});

test("the model's refusals say what to do", async () => {
  const cases: [string, RegExp][] = [
    ['NoPermissions', /Manage Language Model Access/],
    ['Blocked', /quota or rate limit/],
    ['NotFound', /pick another/],
    ['Unknown', /resume the search to try again/],
  ];
  for (const [code, hint] of cases) {
    const fail = Object.assign(new Error(`lm said ${code}`), { code });
    await assert.rejects(lmChat(lm([model({ fail })]), params(), never), (e: unknown) => {
      assert.ok(e instanceof LmChatError, code);
      assert.match(e.message, new RegExp(`copilot/gpt-4o.*lm said ${code}`));
      assert.match(e.hint, hint);
      return true;
    });
  }
});

test('settings: model, review, budget (0 is none), and whose key a model needs', () => {
  const values: Record<string, unknown> = { 'model.name': ' openai:gpt-4o-mini ', 'model.baseUrl': '', 'model.price': '0.15/0.6', 'model.contextTokens': 0, 'model.budgetUsd': 2, 'model.budgetTokens': 0 };
  const config = { get: <T>(k: string) => values[k] as T | undefined };
  assert.deepEqual(modelSettings(config), { name: 'openai:gpt-4o-mini', baseUrl: undefined, price: '0.15/0.6', contextTokens: undefined, review: true });
  values['model.review'] = false;
  assert.equal(modelSettings(config).review, false, 'ratchet.model.review switches the auditor model off');
  assert.deepEqual(budgetSettings(config), { usd: 2, tokens: undefined });
  assert.equal(keyedProviderOf('openai:gpt-4o-mini'), 'openai');
  assert.equal(keyedProviderOf('anthropic:claude-sonnet-4-5'), 'anthropic');
  assert.equal(keyedProviderOf('vscode:copilot/gpt-4o'), undefined);
  assert.equal(keyedProviderOf(''), undefined);
});

test('the output channel blanks out every key it was told of, trace lines included', () => {
  const lines: string[] = [];
  const inner = { name: 'Ratchet', appendLine: (s: string) => lines.push(s), append: (s: string) => lines.push(s) } as unknown as vscode.OutputChannel;
  const keys = new Set(['sk-test-123456789']);
  const out = redactingChannel(inner, () => keys);
  out.appendLine(`[Trace] Sending request 'ratchet/startSearch'.\nParams: {"apiKey": "sk-test-123456789"}`);
  out.append('plain');
  assert.deepEqual(lines, [`[Trace] Sending request 'ratchet/startSearch'.\nParams: {"apiKey": "***"}`, 'plain']);
  assert.equal(out.name, 'Ratchet');
});
