// Real local model servers for tests: an OpenAI-compatible one and an Anthropic-shaped one, on
// 127.0.0.1 with a free port, each answering from a script of replies the test writes.
//
// Usage:
//
//   const server = await startOpenAiServer([reply.status(429, { headers: { 'retry-after': '1' } }), 'Hello!']);
//   t.after(() => server.close());
//   const model = createChatModel({ provider: 'openai', model: 'm', baseUrl: server.url }, { apiKey: 'k' });
//   ... server.requests[1].body.messages, server.requests[0].headers.authorization ...
//
// - `url` is the base URL to configure: `http://127.0.0.1:PORT/v1` for OpenAI (the API lives under
//   /v1/chat/completions), `http://127.0.0.1:PORT` for Anthropic (/v1/messages). Other paths answer a
//   404 in the provider's error shape without using up a script entry.
// - Each POST takes the next entry of the script (`push` adds more). An entry is a `Reply` (make one
//   with `reply.*`), a plain string (shorthand for `reply.answer(text)`), or a function of the parsed
//   JSON body and the recorded request that returns either (sync or async) — to answer by prompt.
// - With the script used up, a request gets the `otherwise` entry of the options when there is one
//   (e.g. a function that answers every prompt, for a long proposer run), else HTTP 400 "the script
//   has no reply left" (which the clients do not retry).
// - A function entry that throws makes the server destroy that connection.
// - `requests` records every request: method, path, lower-cased headers, parsed JSON body, time.
// - `close()` ends open connections (hanging ones too) and stops the server.
//
// Replies:
//   reply.answer(text, { pieces, delayMs, firstDelayMs, usage, stopReason, model })
//       a normal streamed answer: `text` split into `pieces` deltas (default 3), `delayMs` before each
//       piece (a delay over the client's idle timeout makes a slow stream), `firstDelayMs` before the
//       first byte of the body; usage defaults to ceil(chars/4) of prompt and answer, `usage: false`
//       leaves it out (OpenAI only); `model` defaults to the request's model.
//   reply.status(status, { headers, body })   an HTTP error: body an object (sent as JSON) or text;
//       by default the provider's error shape with a message naming the status.
//   reply.hang()                              reads the request and never answers (first-byte timeout).
//   reply.drop(text, afterPieces, { how })    streams `afterPieces` pieces of the answer, then destroys
//       the connection (`how: 'destroy'`, default) or ends the body cleanly without the stream's
//       terminal event (`how: 'end'`).
//   reply.streamError(type, message, { afterPieces })   a 200 stream that breaks off with an error
//       event: Anthropic's `event: error` (e.g. 'overloaded_error'), an `{"error": …}` chunk for OpenAI.
//
// `isReviewRequest(body)` tells the auditor model's requests from the proposer's (either API shape),
// for a script that answers both; `REVIEW_KEEP` is an answer that passes a review.
//
// `scaledSleep(0.1, waits)` is a `sleep` for createChatModel that waits a tenth of each backoff or
// Retry-After and records the unscaled milliseconds asked for, so retry tests stay fast.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { AUDITOR_ROLE } from '../../src/engine/audit/model-review';

export interface AnswerReply {
  kind: 'answer';
  text: string;
  pieces?: number;
  delayMs?: number;
  firstDelayMs?: number;
  usage?: { inputTokens: number; outputTokens: number } | false;
  stopReason?: string;
  model?: string;
}

export interface StatusReply {
  kind: 'status';
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface HangReply {
  kind: 'hang';
}

export interface DropReply {
  kind: 'drop';
  text: string;
  afterPieces: number;
  pieces?: number;
  how?: 'destroy' | 'end';
}

export interface StreamErrorReply {
  kind: 'stream-error';
  errorType: string;
  message: string;
  afterPieces?: number;
  text?: string;
}

export type Reply = AnswerReply | StatusReply | HangReply | DropReply | StreamErrorReply;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (the raw text when it is not JSON). */
  body: any;
  /** Date.now() when the request arrived. */
  at: number;
}

export type ScriptEntry = Reply | string | ((body: any, request: RecordedRequest) => Reply | string | Promise<Reply | string>);

export interface ModelServer {
  /** The base URL to configure. */
  url: string;
  requests: RecordedRequest[];
  push(...entries: ScriptEntry[]): void;
  /** Script entries not used yet. */
  readonly left: number;
  close(): Promise<void>;
}

export const reply = {
  answer: (text: string, opts: Omit<AnswerReply, 'kind' | 'text'> = {}): AnswerReply => ({ kind: 'answer', text, ...opts }),
  status: (status: number, opts: Omit<StatusReply, 'kind' | 'status'> = {}): StatusReply => ({ kind: 'status', status, ...opts }),
  hang: (): HangReply => ({ kind: 'hang' }),
  drop: (text: string, afterPieces: number, opts: Omit<DropReply, 'kind' | 'text' | 'afterPieces'> = {}): DropReply => ({ kind: 'drop', text, afterPieces, ...opts }),
  streamError: (errorType: string, message: string, opts: Omit<StreamErrorReply, 'kind' | 'errorType' | 'message'> = {}): StreamErrorReply => ({ kind: 'stream-error', errorType, message, ...opts }),
};

/** Whether a request's instructions are the auditor model's (OpenAI: the system message; Anthropic: `system`). */
export function isReviewRequest(body: any): boolean {
  const system = typeof body?.system === 'string' ? body.system : body?.messages?.[0]?.role === 'system' ? String(body.messages[0].content) : '';
  return system.startsWith(AUDITOR_ROLE);
}

export const REVIEW_KEEP = 'VERDICT: keep\nREASON: The change does what its hypothesis says, and the audit found nothing.';

/** A retry `sleep` that waits `factor` × the asked time (abortable) and logs the asked time in `asked`. */
export function scaledSleep(factor: number, asked: number[] = []): (ms: number, signal: AbortSignal) => Promise<void> {
  return (ms, signal) => {
    asked.push(ms);
    return delay(ms * factor, undefined, { signal });
  };
}

export interface ServerOptions {
  /** The reply for every request once the script is used up. */
  otherwise?: ScriptEntry;
}

export function startOpenAiServer(script: ScriptEntry[] = [], options: ServerOptions = {}): Promise<ModelServer> {
  return startServer(script, options, openAiDialect);
}

export function startAnthropicServer(script: ScriptEntry[] = [], options: ServerOptions = {}): Promise<ModelServer> {
  return startServer(script, options, anthropicDialect);
}

/** What differs between the two APIs: where they live and how their streams and errors look. */
interface Dialect {
  basePath: string;
  chatPath: string;
  errorBody(message: string, type: string): unknown;
  /** The stream's events before the text, one per text piece, and after it (terminal event last). */
  opening(req: RecordedRequest, r: AnswerReply): string[];
  piece(req: RecordedRequest, r: AnswerReply, text: string): string;
  closing(req: RecordedRequest, r: AnswerReply): string[];
  errorEvent(type: string, message: string): string;
}

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

function defaultUsage(req: RecordedRequest, r: AnswerReply): { inputTokens: number; outputTokens: number } {
  if (r.usage) return r.usage;
  const body = req.body ?? {};
  const messages: { content?: unknown }[] = Array.isArray(body.messages) ? body.messages : [];
  const promptChars = String(body.system ?? '').length + messages.reduce((n, m) => n + String(m.content ?? '').length, 0);
  return { inputTokens: Math.ceil(promptChars / 4), outputTokens: Math.ceil(r.text.length / 4) };
}

const modelOf = (req: RecordedRequest, r: AnswerReply): string => r.model ?? String(req.body?.model ?? 'test-model');

const openAiDialect: Dialect = {
  basePath: '/v1',
  chatPath: '/v1/chat/completions',
  errorBody: (message, type) => ({ error: { message, type, code: null } }),
  opening: (req, r) => [sse(openAiChunk(req, r, { role: 'assistant', content: '' }, null))],
  piece: (req, r, text) => sse(openAiChunk(req, r, { content: text }, null)),
  closing(req, r) {
    const events = [sse(openAiChunk(req, r, {}, r.stopReason ?? 'stop'))];
    if (r.usage !== false) {
      const usage = defaultUsage(req, r);
      const prompt = usage.inputTokens;
      const completion = usage.outputTokens;
      events.push(sse({ id: 'chatcmpl-test', object: 'chat.completion.chunk', model: modelOf(req, r), choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } }));
    }
    events.push(sse('[DONE]'));
    return events;
  },
  errorEvent: (type, message) => sse({ error: { message, type } }),
};

function openAiChunk(req: RecordedRequest, r: AnswerReply, delta: object, finishReason: string | null): object {
  return { id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 0, model: modelOf(req, r), choices: [{ index: 0, delta, finish_reason: finishReason }] };
}

const anthropicDialect: Dialect = {
  basePath: '',
  chatPath: '/v1/messages',
  errorBody: (message, type) => ({ type: 'error', error: { type, message } }),
  opening(req, r) {
    const usage = defaultUsage(req, r);
    const message = { id: 'msg_test', type: 'message', role: 'assistant', model: modelOf(req, r), content: [], stop_reason: null, usage: { input_tokens: usage.inputTokens, output_tokens: 1 } };
    return [
      sse({ type: 'message_start', message }, 'message_start'),
      sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'),
      sse({ type: 'ping' }, 'ping'),
    ];
  },
  piece: (_req, _r, text) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, 'content_block_delta'),
  closing(req, r) {
    return [
      sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
      sse({ type: 'message_delta', delta: { stop_reason: r.stopReason ?? 'end_turn', stop_sequence: null }, usage: { output_tokens: defaultUsage(req, r).outputTokens } }, 'message_delta'),
      sse({ type: 'message_stop' }, 'message_stop'),
    ];
  },
  errorEvent: (type, message) => sse({ type: 'error', error: { type, message } }, 'error'),
};

async function startServer(initial: ScriptEntry[], options: ServerOptions, dialect: Dialect): Promise<ModelServer> {
  const script = [...initial];
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const text = await readBody(req);
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: parseJson(text), at: Date.now() };
    requests.push(recorded);
    if (req.method !== 'POST' || req.url !== dialect.chatPath) {
      return sendJson(res, 404, dialect.errorBody(`model-servers: no route ${req.method} ${req.url}`, 'not_found_error'));
    }
    const entry = script.shift() ?? options.otherwise;
    if (entry === undefined) {
      return sendJson(res, 400, dialect.errorBody(`model-servers: the script has no reply left for request #${requests.length}`, 'invalid_request_error'));
    }
    const resolved = typeof entry === 'function' ? await entry(recorded.body, recorded) : entry;
    await play(typeof resolved === 'string' ? reply.answer(resolved) : resolved, recorded, res, dialect);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${dialect.basePath}`,
    requests,
    push: (...entries) => void script.push(...entries),
    get left() {
      return script.length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function play(r: Reply, req: RecordedRequest, res: http.ServerResponse, dialect: Dialect): Promise<void> {
  if (r.kind === 'hang') return; // the connection stays open until the client gives up or close()
  if (r.kind === 'status') {
    const body = r.body ?? dialect.errorBody(`scripted HTTP ${r.status}`, r.status === 429 ? 'rate_limit_error' : 'api_error');
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain' : 'application/json';
    res.writeHead(r.status, { 'content-type': type, ...r.headers });
    res.end(payload);
    return;
  }
  // Stop writing when the client goes away (a timeout or a cancelled call).
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const wait = async (ms: number | undefined) => {
    if (ms) await delay(ms, undefined, { signal: gone.signal });
  };
  try {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (r.kind === 'answer') {
      await wait(r.firstDelayMs);
      write(res, dialect.opening(req, r));
      for (const piece of split(r.text, r.pieces ?? 3)) {
        await wait(r.delayMs);
        write(res, [dialect.piece(req, r, piece)]);
      }
      write(res, dialect.closing(req, r));
      res.end();
    } else if (r.kind === 'drop') {
      const asAnswer = reply.answer(r.text);
      write(res, dialect.opening(req, asAnswer));
      for (const piece of split(r.text, r.pieces ?? 3).slice(0, r.afterPieces)) write(res, [dialect.piece(req, asAnswer, piece)]);
      await wait(20); // let the pieces reach the client before the cut
      if (r.how === 'end') res.end();
      else res.socket?.destroy();
    } else {
      const asAnswer = reply.answer(r.text ?? 'partial answer');
      write(res, dialect.opening(req, asAnswer));
      for (const piece of split(asAnswer.text, 3).slice(0, r.afterPieces ?? 0)) write(res, [dialect.piece(req, asAnswer, piece)]);
      write(res, [dialect.errorEvent(r.errorType, r.message)]);
      res.end();
    }
  } catch (e) {
    if (!gone.signal.aborted) throw e;
  }
}

function write(res: http.ServerResponse, events: string[]): void {
  if (!res.destroyed) res.write(events.join(''));
}

/** `text` in `n` pieces of about equal length, never splitting a character. */
function split(text: string, n: number): string[] {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / Math.max(1, n)));
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
