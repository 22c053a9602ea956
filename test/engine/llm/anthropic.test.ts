import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChatModel } from '../../../src/engine/llm/providers';
import type { ModelError, RetryInfo } from '../../../src/engine/llm/http';
import { clientHarness } from './client-harness';
import { reply, scaledSleep } from '../../helpers/model-servers';

const KEY = 'sk-ant-test-SECRET-77d1e0';

const { serve, modelFor, ask, failure } = clientHarness('anthropic', KEY, { model: 'claude-test', system: 'Propose one change.', user: 'Here is train.py', maxTokens: 256 });

test('a streamed answer is assembled from text deltas, with usage from message_start and message_delta, and priced', async (t) => {
  const server = await serve(t, [reply.answer('Lower the learning rate to 3e-4.', { pieces: 5, usage: { inputTokens: 2000, outputTokens: 40 }, model: 'claude-test-20250101' })]);
  const model = modelFor(server, { price: { inputPerMTok: 3, outputPerMTok: 15 } });
  const pieces: string[] = [];
  const answer = await ask(model, { onText: (d) => pieces.push(d), temperature: 0 });

  assert.equal(model.name, 'anthropic:claude-test');
  assert.equal(answer.text, 'Lower the learning rate to 3e-4.');
  assert.equal(pieces.join(''), answer.text);
  assert.equal(pieces.length, 5);
  assert.equal(answer.model, 'claude-test-20250101');
  assert.equal(answer.stopReason, 'end_turn');
  assert.equal(answer.usage.inputTokens, 2000);
  assert.equal(answer.usage.outputTokens, 40);
  assert.ok(Math.abs(answer.usage.costUsd - (2000 * 3 + 40 * 15) / 1e6) < 1e-12);

  const [request] = server.requests;
  assert.equal(request.path, '/v1/messages');
  assert.equal(request.headers['x-api-key'], KEY);
  assert.equal(request.headers['anthropic-version'], '2023-06-01');
  assert.equal(request.headers.authorization, undefined);
  assert.deepEqual(request.body, {
    model: 'claude-test',
    max_tokens: 256,
    system: 'Propose one change.',
    messages: [{ role: 'user', content: 'Here is train.py' }],
    temperature: 0,
    stream: true,
  });
});

test('without a key the model is not made: the error names ANTHROPIC_API_KEY, or the configured variable', () => {
  assert.throws(
    () => createChatModel({ provider: 'anthropic', model: 'claude-test' }, { env: {} }),
    (e: ModelError) => e.code === 'MODEL_NO_KEY' && /ANTHROPIC_API_KEY/.test(e.message) && /ANTHROPIC_API_KEY/.test(e.hint ?? ''),
  );
  assert.throws(
    () => createChatModel({ provider: 'anthropic', model: 'claude-test', apiKeyEnv: 'TEAM_CLAUDE_KEY' }, { env: { ANTHROPIC_API_KEY: KEY } }),
    (e: ModelError) => e.code === 'MODEL_NO_KEY' && /TEAM_CLAUDE_KEY/.test(e.hint ?? ''),
  );
});

test('the key is read from the environment variable', async (t) => {
  const server = await serve(t, ['ok']);
  await ask(modelFor(server, {}, { apiKey: undefined, env: { ANTHROPIC_API_KEY: `${KEY}\n` } }));
  assert.equal(server.requests[0].headers['x-api-key'], KEY);
});

test('an overloaded_error event mid-stream is retried like a 529, and so is a 529', async (t) => {
  const server = await serve(t, [
    reply.streamError('overloaded_error', 'Overloaded', { afterPieces: 1 }),
    reply.status(529, { headers: { 'retry-after': '1' }, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }),
    'finally',
  ]);
  const retries: RetryInfo[] = [];
  const asked: number[] = [];
  const answer = await ask(modelFor(server, {}, { onRetry: (r) => retries.push(r), sleep: scaledSleep(0.1, asked) }));
  assert.equal(answer.text, 'finally');
  assert.match(retries[0].reason, /overloaded_error: Overloaded/);
  assert.match(retries[1].reason, /HTTP 529, overloaded/);
  assert.equal(asked[1], 1000);
});

test('an invalid_request_error event is not retried', async (t) => {
  const server = await serve(t, [reply.streamError('invalid_request_error', 'prompt is too long'), 'unused']);
  const err = await failure(ask(modelFor(server)));
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_STREAM_ERROR');
  assert.match(err.message, /prompt is too long/);
});

test('401 fails at once with the provider message, the variable to set, and no key', async (t) => {
  const server = await serve(t, [reply.status(401, { body: { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${KEY}` } } }), 'unused']);
  const err = await failure(ask(modelFor(server)));
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_AUTH');
  assert.match(err.message, /rejected the API key/);
  assert.match(err.message, /invalid x-api-key \*\*\*/);
  assert.match(err.hint ?? '', /ANTHROPIC_API_KEY/);
});

test('400 fails at once with what the API said', async (t) => {
  const server = await serve(t, [reply.status(400, { body: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: 999999 > 64000' } } })]);
  const err = await failure(ask(modelFor(server)));
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_BAD_REQUEST');
  assert.match(err.message, /max_tokens: 999999 > 64000/);
});

test('a connection dropped mid-stream is retried and the retry answers', async (t) => {
  const server = await serve(t, [reply.drop('half an ans', 2), 'a whole answer']);
  const pieces: string[] = [];
  const answer = await ask(modelFor(server), { onText: (d) => pieces.push(d) });
  assert.equal(answer.text, 'a whole answer');
  assert.equal(server.requests.length, 2);
  assert.ok(pieces.join('').endsWith('a whole answer'), 'progress text starts over on a retry');
});

test('a slow stream times out and the retry answers; a hanging one hits the first-byte timeout', async (t) => {
  const server = await serve(t, [reply.answer('slow', { delayMs: 1500 }), reply.hang(), 'fine']);
  const retries: RetryInfo[] = [];
  const answer = await ask(modelFor(server, { timeouts: { firstByteSeconds: 0.4, idleSeconds: 0.3 } }, { onRetry: (r) => retries.push(r) }));
  assert.equal(answer.text, 'fine');
  assert.deepEqual(
    retries.map((r) => r.reason.match(/\((idle|first-byte) timeout\)/)?.[1]),
    ['idle', 'first-byte'],
  );
});

test('cancelling while the stream is coming stops the call at once', async (t) => {
  const server = await serve(t, [reply.answer('a long slow answer', { pieces: 10, delayMs: 300 })]);
  const controller = new AbortController();
  const started = Date.now();
  const call = ask(modelFor(server), { signal: controller.signal, onText: () => controller.abort() });
  await assert.rejects(call, (e: Error) => e.name === 'AbortError');
  assert.ok(Date.now() - started < 1000);
  assert.equal(server.requests.length, 1);
});
