import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChatModel } from '../../../src/engine/llm/providers';
import type { ModelError, RetryInfo } from '../../../src/engine/llm/http';
import { clientHarness } from './client-harness';
import { reply, scaledSleep, startOpenAiServer } from '../../helpers/model-servers';

const KEY = 'sk-test-SECRET-5f3a9c';

const { serve, modelFor, ask, failure } = clientHarness('openai', KEY, { model: 'gpt-test', system: 'You are terse.', user: 'Say hello', maxTokens: 100 });

test('a streamed answer is assembled, with the usage and cost the server reports', async (t) => {
  const server = await serve(t, [reply.answer('Hello there, friend!', { pieces: 4, usage: { inputTokens: 1000, outputTokens: 500 }, model: 'gpt-test-2025', stopReason: 'length' })]);
  const model = modelFor(server, { price: { inputPerMTok: 2, outputPerMTok: 8 }, temperature: 0.3 });
  const pieces: string[] = [];
  const answer = await ask(model, { onText: (d) => pieces.push(d) });

  assert.equal(model.name, 'openai:gpt-test');
  assert.equal(answer.text, 'Hello there, friend!');
  assert.equal(pieces.length, 4);
  assert.equal(pieces.join(''), answer.text);
  assert.equal(answer.model, 'gpt-test-2025');
  assert.equal(answer.stopReason, 'length');
  assert.deepEqual(answer.usage, { inputTokens: 1000, outputTokens: 500, costUsd: 0.006 });

  const [request] = server.requests;
  assert.equal(request.path, '/v1/chat/completions');
  assert.equal(request.headers.authorization, `Bearer ${KEY}`);
  assert.deepEqual(request.body, {
    model: 'gpt-test',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hello' },
    ],
    max_tokens: 100,
    temperature: 0.3,
    stream: true,
    stream_options: { include_usage: true },
  });
});

test('a local server gets no Authorization header, and usage it does not report is estimated', async (t) => {
  const server = await serve(t, [reply.answer('12345678', { usage: false })]);
  const model = modelFor(server, {}, { apiKey: undefined, env: {} });
  const answer = await ask(model);
  assert.equal(server.requests[0].headers.authorization, undefined);
  // 'You are terse.' + 'Say hello' = 23 characters → 6 tokens; the 8-character answer → 2.
  assert.deepEqual(answer.usage, { inputTokens: 6, outputTokens: 2, costUsd: 0 });
});

test('api.openai.com without a key fails before any request, naming the variable', () => {
  assert.throws(
    () => createChatModel({ provider: 'openai', model: 'gpt-4o-mini' }, { env: {} }),
    (e: ModelError) => e.code === 'MODEL_NO_KEY' && /OPENAI_API_KEY/.test(e.message + e.hint),
  );
});

test("OpenAI's own API gets max_completion_tokens (its newer models refuse max_tokens)", async () => {
  let sent: { url: string; body: Record<string, unknown>; auth: string | null } | undefined;
  const fakeFetch: typeof fetch = async (url, init) => {
    sent = { url: String(url), body: JSON.parse(String(init?.body)), auth: new Headers(init?.headers).get('authorization') };
    return new Response('data: {"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n', { headers: { 'content-type': 'text/event-stream' } });
  };
  const model = createChatModel({ provider: 'openai', model: 'gpt-5' }, { env: { OPENAI_API_KEY: KEY }, fetch: fakeFetch });
  const answer = await ask(model);
  assert.equal(answer.text, 'ok');
  assert.equal(sent?.url, 'https://api.openai.com/v1/chat/completions');
  assert.equal(sent?.auth, `Bearer ${KEY}`);
  assert.equal(sent?.body.max_completion_tokens, 100);
  assert.equal(sent?.body.max_tokens, undefined);
});

test('429 with Retry-After: the wait honours the header, then the answer comes', async (t) => {
  const server = await serve(t, [reply.status(429, { headers: { 'retry-after': '2' } }), 'after the wait']);
  const asked: number[] = [];
  const retries: RetryInfo[] = [];
  const answer = await ask(modelFor(server, {}, { sleep: scaledSleep(0.1, asked), onRetry: (r) => retries.push(r) }));
  assert.equal(answer.text, 'after the wait');
  assert.deepEqual(asked, [2000]);
  const waited = server.requests[1].at - server.requests[0].at;
  assert.ok(waited >= 195, `waited ${waited} ms, the header asked 2 s (scaled 0.1)`);
  assert.equal(retries.length, 1);
  assert.match(retries[0].reason, /HTTP 429/);
});

test('503 is retried with backoff, then the answer comes', async (t) => {
  const server = await serve(t, [reply.status(503), reply.status(503), 'third time lucky']);
  const asked: number[] = [];
  const answer = await ask(modelFor(server, {}, { sleep: scaledSleep(0.1, asked) }));
  assert.equal(answer.text, 'third time lucky');
  assert.equal(server.requests.length, 3);
  // exponential with jitter: [0.5 s, 1 s], then [1 s, 2 s]
  assert.ok(asked[0] >= 500 && asked[0] <= 1000, String(asked));
  assert.ok(asked[1] >= 1000 && asked[1] <= 2000, String(asked));
});

test('when the retries run out, the error says what failed, how often, and what to raise', async (t) => {
  const overloaded = () => reply.status(502, { body: { error: { message: 'upstream exploded' } } });
  const server = await serve(t, [overloaded(), overloaded(), overloaded()]);
  const err = await failure(ask(modelFor(server, { retries: 2 })));
  assert.equal(server.requests.length, 3);
  assert.equal(err.code, 'MODEL_UNAVAILABLE');
  assert.match(err.message, /HTTP 502/);
  assert.match(err.message, /upstream exploded/);
  assert.match(err.message, /3 attempts/);
  assert.match(err.hint ?? '', /retries/);
});

test('401 fails at once, says the key is wrong and which variable holds it, and never shows the key', async (t) => {
  const server = await serve(t, [reply.status(401, { body: { error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error' } } }), 'unused']);
  const logged: RetryInfo[] = [];
  const model = modelFor(server, { apiKeyEnv: 'MY_OPENAI_KEY' }, { apiKey: undefined, env: { MY_OPENAI_KEY: KEY }, onRetry: (r) => logged.push(r) });
  const err = await failure(ask(model));
  assert.equal(server.requests.length, 1);
  assert.equal(logged.length, 0);
  assert.equal(err.code, 'MODEL_AUTH');
  assert.equal(err.status, 401);
  assert.match(err.message, /API key/);
  assert.match(err.message, /Incorrect API key provided: \*\*\*/);
  assert.match(err.hint ?? '', /MY_OPENAI_KEY/);
});

test('404 (a wrong base URL or model) fails at once and names both', async (t) => {
  const server = await serve(t, []);
  const wrongBase = server.url.replace(/\/v1$/, '/api');
  const err = await failure(ask(modelFor(server, { baseUrl: wrongBase })));
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_NOT_FOUND');
  assert.match(err.message, /"gpt-test"/);
  assert.ok(err.hint?.includes(wrongBase), err.hint);
});

test('a stream that stalls past the idle timeout is retried, and the retry answers', async (t) => {
  const server = await serve(t, [reply.answer('slow words', { delayMs: 1500 }), 'quick words']);
  const retries: RetryInfo[] = [];
  const answer = await ask(modelFor(server, { timeouts: { idleSeconds: 0.3 } }, { onRetry: (r) => retries.push(r) }));
  assert.equal(answer.text, 'quick words');
  assert.match(retries[0].reason, /idle timeout/);
  assert.match(retries[0].reason, /0\.3 s/);
});

test('a stream that stalls on every attempt fails naming the idle timeout, its seconds, and the setting', async (t) => {
  const server = await serve(t, [reply.answer('slow', { delayMs: 1500 }), reply.answer('slow', { delayMs: 1500 })]);
  const err = await failure(ask(modelFor(server, { retries: 1, timeouts: { idleSeconds: 0.3 } })));
  assert.equal(server.requests.length, 2);
  assert.equal(err.code, 'MODEL_TIMEOUT');
  assert.match(err.message, /idle timeout/);
  assert.match(err.message, /0\.3 s/);
  assert.match(err.hint ?? '', /timeouts\.idleSeconds/);
});

test('a server that never answers hits the first-byte timeout', async (t) => {
  const server = await serve(t, [reply.hang()]);
  const started = Date.now();
  const err = await failure(ask(modelFor(server, { retries: 0, timeouts: { firstByteSeconds: 0.4 } })));
  assert.ok(Date.now() - started < 2000);
  assert.equal(err.code, 'MODEL_TIMEOUT');
  assert.match(err.message, /first-byte timeout/);
  assert.match(err.message, /0\.4 s/);
  assert.match(err.hint ?? '', /timeouts\.firstByteSeconds/);
});

test('a connection dropped mid-stream, or a stream that ends without [DONE], is retried', async (t) => {
  const server = await serve(t, [reply.drop('never finished', 1), reply.drop('never finished', 2, { how: 'end' }), 'complete answer']);
  const retries: RetryInfo[] = [];
  const answer = await ask(modelFor(server, {}, { onRetry: (r) => retries.push(r) }));
  assert.equal(answer.text, 'complete answer');
  assert.equal(server.requests.length, 3);
  assert.match(retries[0].reason, /dropped mid-answer/);
  assert.match(retries[1].reason, /ended before the answer was complete/);
});

test('an error chunk inside the stream is retried', async (t) => {
  const server = await serve(t, [reply.streamError('server_error', 'the GPU fell over', { afterPieces: 1 }), 'recovered']);
  assert.equal((await ask(modelFor(server))).text, 'recovered');
});

test('cancelling stops a call at once, while it waits for an answer and while it waits to retry', async (t) => {
  const server = await serve(t, [reply.hang(), reply.status(429, { headers: { 'retry-after': '30' } })]);
  const model = modelFor(server, { timeouts: { totalSeconds: 60 } }, { sleep: undefined }); // the real sleep: 30 s if not cancelled

  for (const expectedRequests of [1, 2]) {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 150);
    await assert.rejects(ask(model, { signal: controller.signal }), (e: Error) => e.name === 'AbortError');
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    assert.equal(server.requests.length, expectedRequests);
  }
});

test('a Retry-After longer than Ratchet waits fails at once with the wait in the message', async (t) => {
  const server = await serve(t, [reply.status(429, { headers: { 'retry-after': '3600' } }), 'unused']);
  const err = await failure(ask(modelFor(server)));
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_RATE_LIMITED');
  assert.match(err.message, /wait 3600 s/);
});

test('the answer can depend on the prompt (a scripted function), also for every request after the script', async (t) => {
  const echo = (body: { messages: { content: string }[] }) => `you said: ${body.messages.at(-1)?.content}`;
  const server = await startOpenAiServer([echo], { otherwise: echo });
  t.after(() => server.close());
  const model = modelFor(server);
  assert.equal((await ask(model)).text, 'you said: Say hello');
  assert.equal((await ask(model, { messages: [{ role: 'user', content: 'again' }] })).text, 'you said: again');
  assert.equal(server.left, 0);
});
