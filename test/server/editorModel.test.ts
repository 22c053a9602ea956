// The server's ChatModel over the editor's language models, on a real language-server connection
// whose other end the test plays: it answers ratchet/lmChat as the extension would, through the
// extension's own handler (languageModels.ts) over fake vscode.lm models where it matters.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import {
  createConnection,
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-languageserver/node';
import { isRatchetError } from '../../src/engine/errors';
import { createEditorModel, lmSelector } from '../../src/server/editorModel';
import { ClientRequests, type LmChatErrorData, type LmChatParams, type LmChatResult } from '../../src/server/protocol';
import { lmChat, LmChatError, type LmAccess, type LmModel } from '../../src/extension/languageModels';

/** The language server's connection and a plain JSON-RPC one for the test's client, joined by in-memory pipes. */
function connectionPair(t: TestContext): { server: ReturnType<typeof createConnection>; client: MessageConnection } {
  const up = new PassThrough();
  const down = new PassThrough();
  const server = createConnection(new StreamMessageReader(up), new StreamMessageWriter(down));
  const client = createMessageConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  server.listen();
  client.listen();
  t.after(() => {
    client.dispose();
    server.dispose();
  });
  return { server, client };
}

const ask = (signal = new AbortController().signal) => ({
  system: 'You improve training scripts.',
  messages: [{ role: 'user' as const, content: 'Propose one change.' }],
  maxTokens: 512,
  temperature: 0.2,
  signal,
});

test('a turn goes to the client as ratchet/lmChat and comes back priced', async (t) => {
  const { server, client } = connectionPair(t);
  const seen: LmChatParams[] = [];
  client.onRequest(ClientRequests.lmChat, (p: LmChatParams): LmChatResult => {
    seen.push(p);
    return { text: '### Hypothesis\nx', inputTokens: 1000, outputTokens: 500, model: 'copilot/gpt-4o' };
  });
  const model = createEditorModel(server, { model: 'copilot/gpt-4o', price: { inputPerMTok: 1, outputPerMTok: 2 } });
  assert.equal(model.name, 'vscode:copilot/gpt-4o');
  const answer = await model.chat(ask());
  assert.deepEqual(seen, [
    {
      selector: { vendor: 'copilot', family: 'gpt-4o' },
      system: 'You improve training scripts.',
      messages: [{ role: 'user', content: 'Propose one change.' }],
      maxTokens: 512,
      temperature: 0.2,
    },
  ]);
  assert.equal(answer.text, '### Hypothesis\nx');
  assert.equal(answer.model, 'copilot/gpt-4o');
  assert.deepEqual(answer.usage, { inputTokens: 1000, outputTokens: 500, costUsd: 0.002 });
});

test('an abort cancels the request on the client, down to the model call, and the turn ends at once', async (t) => {
  const { server, client } = connectionPair(t);
  let modelToken: CancellationToken | undefined;
  let cancelledOnClient!: () => void;
  const cancelled = new Promise<void>((r) => (cancelledOnClient = r));
  let sent!: () => void;
  const started = new Promise<void>((r) => (sent = r));
  // The extension's own handler over a fake model whose answer never ends by itself.
  const slow: LmModel<string> = {
    id: 'gpt-4o',
    vendor: 'copilot',
    family: 'gpt-4o',
    sendRequest: async (_messages, _options, token) => {
      modelToken = token;
      sent();
      return {
        text: (async function* () {
          yield 'partial ';
          await new Promise<void>((r) => token.onCancellationRequested(() => r()));
          cancelledOnClient();
          throw new Error('Canceled');
        })(),
      };
    },
    countTokens: async () => 1,
  };
  client.onRequest(ClientRequests.lmChat, (p: LmChatParams, token: CancellationToken) => lmChat(fakeLm([slow]), p, token));
  const abort = new AbortController();
  const turn = createEditorModel(server, { model: 'copilot/gpt-4o' }).chat(ask(abort.signal));
  await started;
  const t0 = Date.now();
  abort.abort();
  await assert.rejects(turn, (e: Error) => e.name === 'AbortError');
  assert.ok(Date.now() - t0 < 1000, 'the turn ends without waiting for the client');
  await cancelled;
  assert.equal(modelToken?.isCancellationRequested, true);
});

test('an already aborted turn sends nothing', async (t) => {
  const { server, client } = connectionPair(t);
  let asked = 0;
  client.onRequest(ClientRequests.lmChat, () => void asked++);
  const abort = new AbortController();
  abort.abort();
  await assert.rejects(createEditorModel(server, { model: 'gpt-4o' }).chat(ask(abort.signal)), (e: Error) => e.name === 'AbortError');
  assert.equal(asked, 0);
});

test("the client's error arrives as a ModelError with its fix", async (t) => {
  const { server, client } = connectionPair(t);
  client.onRequest(ClientRequests.lmChat, () => new ResponseError<LmChatErrorData>(1, "The editor's model copilot/gpt-4o refused the request", { hint: 'wait and resume the search', code: 'MODEL_EDITOR_BLOCKED' }));
  await assert.rejects(createEditorModel(server, { model: 'copilot/gpt-4o' }).chat(ask()), (e: unknown) => {
    assert.ok(isRatchetError(e));
    assert.equal(e.code, 'MODEL_EDITOR_BLOCKED');
    assert.equal(e.describe(), "The editor's model copilot/gpt-4o refused the request\n  → wait and resume the search");
    return true;
  });
});

test('a model the editor lacks fails with the models it has, through the real handler', async (t) => {
  const { server, client } = connectionPair(t);
  const other: LmModel<string> = { id: 'claude-x', vendor: 'copilot', family: 'claude-sonnet', sendRequest: async () => ({ text: (async function* () {})() }), countTokens: async () => 1 };
  client.onRequest(ClientRequests.lmChat, async (p: LmChatParams, token: CancellationToken) => {
    try {
      return await lmChat(fakeLm([other]), p, token);
    } catch (e) {
      if (e instanceof LmChatError) return new ResponseError<LmChatErrorData>(1, e.message, { hint: e.hint, code: e.code });
      throw e;
    }
  });
  await assert.rejects(createEditorModel(server, { model: 'copilot/gpt-9' }).chat(ask()), (e: unknown) => {
    assert.ok(isRatchetError(e));
    assert.equal(e.code, 'MODEL_EDITOR_NOT_FOUND');
    assert.match(e.message, /no language model matching copilot\/gpt-9/);
    assert.match(e.hint!, /copilot\/claude-sonnet/);
    return true;
  });
});

test('a client whose handler throws still gives a readable error', async (t) => {
  const { server, client } = connectionPair(t);
  client.onRequest(ClientRequests.lmChat, () => {
    throw new Error('boom');
  });
  await assert.rejects(createEditorModel(server, { model: 'gpt-4o' }).chat(ask()), (e: unknown) => isRatchetError(e) && e.code === 'MODEL_EDITOR' && /boom/.test(e.message));
});

test('a model name becomes a vscode.lm selector', () => {
  assert.deepEqual(lmSelector('copilot/gpt-4o'), { vendor: 'copilot', family: 'gpt-4o' });
  assert.deepEqual(lmSelector('gpt-4o'), { family: 'gpt-4o' });
  assert.deepEqual(lmSelector('copilot/'), { vendor: 'copilot' });
});

/** vscode.lm over the given models; messages are plain strings tagged with their role. */
function fakeLm(models: LmModel<string>[]): LmAccess<string> {
  return {
    selectChatModels: async (s) => models.filter((m) => (!s?.vendor || m.vendor === s.vendor) && (!s?.family || m.family === s.family) && (!s?.id || m.id === s.id)),
    user: (text) => `user: ${text}`,
    assistant: (text) => `assistant: ${text}`,
  };
}
