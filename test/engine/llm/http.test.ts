// The transport's rules (Retry-After, backoff, network failures, the total timeout) and what
// createChatModel adds around the clients (config checks, the concurrency limit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RatchetError } from '../../../src/engine/errors';
import { createChatModel } from '../../../src/engine/llm/providers';
import { backoff, retryAfter, type ModelError, type RetryInfo } from '../../../src/engine/llm/http';
import { clientHarness } from './client-harness';
import { reply, scaledSleep } from '../../helpers/model-servers';

const KEY = 'sk-test-SECRET-http-41c2';

const { serve, modelFor, ask } = clientHarness('openai', KEY, { model: 'm', retries: 2, system: 's', user: 'u', maxTokens: 10 });

test('Retry-After is read as seconds, as an HTTP date, or from retry-after-ms; nonsense is ignored', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(retryAfter(new Headers({ 'retry-after': '7' }), now), 7000);
  assert.equal(retryAfter(new Headers({ 'retry-after': '1.5' }), now), 1500);
  assert.equal(retryAfter(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:12 GMT' }), now), 12_000);
  assert.equal(retryAfter(new Headers({ 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }), now), 0);
  assert.equal(retryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '1' }), now), 250);
  assert.equal(retryAfter(new Headers({ 'retry-after': 'soon' }), now), undefined);
  assert.equal(retryAfter(new Headers(), now), undefined);
});

test('backoff doubles from 1 s with jitter in [half, whole] and stops growing at 30 s', () => {
  assert.equal(backoff(1, () => 0), 500);
  assert.equal(backoff(1, () => 0.999999), 1000);
  assert.equal(backoff(3, () => 0.5), 3000);
  assert.equal(backoff(10, () => 0.999999), 30_000);
});

test('Retry-After as an HTTP date is honoured end to end', async (t) => {
  const server = await serve(t, [reply.status(503, { headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } }), 'ok']);
  const asked: number[] = [];
  assert.equal((await ask(modelFor(server.url, {}, { sleep: scaledSleep(0.01, asked) }))).text, 'ok');
  assert.ok(asked[0] > 1000 && asked[0] <= 3000, String(asked));
});

test('a server that is not there: retried, then an error naming the URL and the cause', async (t) => {
  const server = await serve(t, []);
  const url = server.url;
  await server.close();
  const retries: RetryInfo[] = [];
  const err = await ask(modelFor(url, {}, { onRetry: (r) => retries.push(r) })).then(
    () => assert.fail('answered'),
    (e: ModelError) => e,
  );
  assert.equal(retries.length, 2);
  assert.equal(err.code, 'MODEL_NETWORK');
  assert.match(err.message, /ECONNREFUSED/);
  assert.ok(err.message.includes(url), err.message);
  assert.match(err.hint ?? '', /baseUrl/);
});

test('the total timeout bounds the whole call and is not retried', async (t) => {
  const server = await serve(t, [reply.answer('0123456789', { pieces: 10, delayMs: 150 }), 'unused']);
  const started = Date.now();
  const err = await ask(modelFor(server.url, { timeouts: { totalSeconds: 0.5 } })).then(
    () => assert.fail('answered'),
    (e: ModelError) => e,
  );
  assert.ok(Date.now() - started < 1500);
  assert.equal(server.requests.length, 1);
  assert.equal(err.code, 'MODEL_TIMEOUT');
  assert.match(err.message, /took longer than 0\.5 s.*total timeout/);
  assert.match(err.hint ?? '', /timeouts\.totalSeconds/);
});

test('a server that answers plain JSON instead of a stream gets a clear error', async (t) => {
  const server = await serve(t, [reply.status(200, { body: { choices: [{ message: { content: 'hi' } }] } })]);
  const err = await ask(modelFor(server.url)).then(() => assert.fail('answered'), (e: ModelError) => e);
  assert.equal(err.code, 'MODEL_NOT_STREAMING');
});

test('the editor provider cannot be made outside the editor', () => {
  assert.throws(
    () => createChatModel({ provider: 'vscode', model: 'copilot/gpt-4o' }),
    (e: RatchetError) => e instanceof RatchetError && e.code === 'MODEL_EDITOR_ONLY' && /editor/.test(e.message) && /openai|anthropic/.test(e.hint ?? ''),
  );
});

test('a baseUrl that is not an http(s) URL, or a key with stray characters, is refused up front without showing the key', () => {
  assert.throws(() => createChatModel({ provider: 'openai', model: 'm', baseUrl: 'localhost:11434' }, { apiKey: KEY }), (e: RatchetError) => e.code === 'MODEL_CONFIG');
  const quoted = `"${KEY}"`;
  assert.throws(
    () => createChatModel({ provider: 'openai', model: 'm' }, { env: { OPENAI_API_KEY: quoted } }),
    (e: RatchetError) => e.code === 'MODEL_BAD_KEY' && !e.describe().includes(KEY) && /OPENAI_API_KEY/.test(e.describe()),
  );
});

test('at most `concurrency` calls are in flight; a cancelled caller leaves the queue', async (t) => {
  let finished = 0;
  const finishedWhenAsked: number[] = [];
  const answerAfterOthers = () => {
    finishedWhenAsked.push(finished);
    return reply.answer('done', { delayMs: 50 });
  };
  const server = await serve(t, [answerAfterOthers, answerAfterOthers]);
  const model = modelFor(server.url, { concurrency: 1 });

  const cancelled = new AbortController();
  const calls = [
    ask(model).then(() => finished++),
    ask(model, { signal: cancelled.signal }),
    ask(model).then(() => finished++),
  ];
  cancelled.abort();
  await assert.rejects(calls[1], (e: Error) => e.name === 'AbortError');
  await Promise.all([calls[0], calls[2]]);
  assert.deepEqual(finishedWhenAsked, [0, 1]);
  assert.equal(server.requests.length, 2);
});

test('retry log lines and errors never hold the key, even when the server echoes it', async (t) => {
  const echo = () => reply.status(503, { body: { error: { message: `bad gateway for key ${KEY}` } } });
  const server = await serve(t, [echo(), echo(), echo()]);
  const retries: RetryInfo[] = [];
  const err = await ask(modelFor(server.url, {}, { onRetry: (r) => retries.push(r) })).then(
    () => assert.fail('answered'),
    (e: ModelError) => e,
  );
  assert.equal(retries.length, 2);
  for (const text of [...retries.map((r) => r.reason), err.message, err.hint ?? '', err.stack ?? '']) {
    assert.ok(!text.includes(KEY), text);
  }
  assert.match(err.message, /bad gateway for key \*\*\*/);
});
