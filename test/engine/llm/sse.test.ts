import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, readSse, type SseEvent } from '../../../src/engine/llm/sse';

/** A body that arrives as these byte chunks. */
function body(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

async function eventsOf(chunks: Uint8Array[]): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const e of readSse(body(chunks))) events.push(e);
  return events;
}

const bytes = (s: string) => new TextEncoder().encode(s);

/** Every split of `bytes` into single bytes: the worst a network can do. */
const byteByByte = (b: Uint8Array) => Array.from(b, (x) => Uint8Array.of(x));

const STREAM =
  ': keep-alive comment\n' +
  'event: message_start\n' +
  'data: {"a":1}\n' +
  '\n' +
  'data: first line\n' +
  'data:second line\n' +
  'data:  two spaces keep one\n' +
  'id: 7\n' +
  '\n' +
  'event: only-a-name\n' +
  '\n' +
  'data\n' +
  '\n' +
  'data: héllo wörld 🙂 日本\n' +
  '\n';

const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"a":1}' },
  { data: 'first line\nsecond line\n two spaces keep one', id: '7' },
  { data: '', id: '7' },
  { data: 'héllo wörld 🙂 日本', id: '7' },
];

test('events: names, multi-line data, comments, ids, a field without a colon, an event with no data', async () => {
  assert.deepEqual(await eventsOf([bytes(STREAM)]), EXPECTED);
});

test('a body split at every byte (mid-line, mid-UTF-8 character) reads the same', async () => {
  assert.deepEqual(await eventsOf(byteByByte(bytes(STREAM))), EXPECTED);
});

test('CRLF and lone CR end lines too, also when a CRLF is split between chunks', async () => {
  const crlf = STREAM.replace(/\n/g, '\r\n');
  assert.deepEqual(await eventsOf([bytes(crlf)]), EXPECTED);
  assert.deepEqual(await eventsOf(byteByByte(bytes(crlf))), EXPECTED);
  assert.deepEqual(await eventsOf([bytes(STREAM.replace(/\n/g, '\r'))]), EXPECTED);
  // "data: x\r" | "\n\r\n": the CR must not end a line by itself and then the LF a second, empty one
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: x\r'), []);
  assert.deepEqual(parser.push('\ndata: y\r'), []);
  assert.deepEqual(parser.push('\n\r\n'), [{ data: 'x\ny' }]);
});

test('at the end of the body, complete data lines still make an event, a cut-off line does not', () => {
  const complete = new SseParser();
  assert.deepEqual(complete.push('data: [DONE]\n'), []);
  assert.deepEqual(complete.end(), [{ data: '[DONE]' }]);

  const cut = new SseParser();
  assert.deepEqual(cut.push('data: {"partial": tr'), []);
  assert.deepEqual(cut.end(), []);
});

test('many events in one chunk come out in order', async () => {
  const text = Array.from({ length: 50 }, (_, i) => `data: ${i}\n\n`).join('');
  const events = await eventsOf([bytes(text)]);
  assert.deepEqual(events.map((e) => e.data), Array.from({ length: 50 }, (_, i) => String(i)));
});
