// The request machinery the model clients share: POST JSON, read the answer as an event stream, and
// turn a flaky network into either an answer or one clear error (timeouts, retries, Retry-After).

import { RatchetError } from '../errors';
import type { ModelConfig } from './config';
import { readSse, type SseEvent } from './sse';

/** An error from a model call that the user can act on; `status` is the HTTP status when there was one. */
export class ModelError extends RatchetError {
  constructor(message: string, hint: string | undefined, code: string, readonly status?: number) {
    super(message, hint, code);
    this.name = 'ModelError';
  }
}

/**
 * A failure worth another try: thrown by the transport for 429/5xx, timeouts and dropped connections,
 * and by an answer reader for a provider's own "overloaded" event. Becomes a ModelError with this
 * code and hint when the retries run out.
 */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly hint: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface RetryInfo {
  /** The attempt that failed, from 1. */
  attempt: number;
  waitMs: number;
  reason: string;
}

export interface TransportOptions {
  fetch?: typeof fetch;
  /** How to wait between attempts; tests pass a faster one. */
  sleep?: Sleep;
  /** Told of each retry (for a log line); the reason never holds the key. */
  onRetry?: (info: RetryInfo) => void;
  /** Jitter source, [0, 1). */
  random?: () => number;
}

/** Everything a request needs to know about where it goes, resolved once per model. */
export interface Transport extends TransportOptions {
  /** Who answers, for messages: `OpenAI`, `the OpenAI-compatible server at http://…`. */
  who: string;
  model: string;
  baseUrl: string;
  /** The environment variable the key comes from, for the fix of a 401. */
  keyEnv: string;
  keySent: boolean;
  /** Text never to show (the key). */
  secrets: string[];
  retries: number;
  firstByteMs: number;
  idleMs: number;
  totalMs: number;
  /** The longest Retry-After that is waited out; a longer one fails the call at once. */
  maxRetryWaitMs: number;
}

/** Consumes one attempt's events; a fresh one is made for every attempt. */
export interface AnswerReader<T> {
  /** Takes one event; true at the stream's terminal event. May throw a RetryableError or ModelError. */
  take(event: SseEvent): boolean;
  answer(): T;
}

export interface StreamCall {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
}

export const DEFAULT_RETRIES = 4;
export const DEFAULT_TIMEOUTS = { firstByteSeconds: 120, idleSeconds: 60, totalSeconds: 600 } as const;
export const MAX_RETRY_WAIT_MS = 60_000;
const MAX_BACKOFF_MS = 30_000;
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504, 529]);

export function makeTransport(
  config: ModelConfig,
  where: { who: string; baseUrl: string; keyEnv: string; apiKey?: string },
  options: TransportOptions = {},
): Transport {
  const configured = (field: keyof typeof DEFAULT_TIMEOUTS) => config.timeouts?.[field] ?? DEFAULT_TIMEOUTS[field];
  return {
    ...options,
    who: where.who,
    model: config.model,
    baseUrl: where.baseUrl,
    keyEnv: where.keyEnv,
    keySent: !!where.apiKey,
    secrets: where.apiKey ? [where.apiKey] : [],
    retries: config.retries ?? DEFAULT_RETRIES,
    firstByteMs: configured('firstByteSeconds') * 1000,
    idleMs: configured('idleSeconds') * 1000,
    totalMs: configured('totalSeconds') * 1000,
    maxRetryWaitMs: MAX_RETRY_WAIT_MS,
  };
}

/**
 * POSTs `call.body` and reads the streamed answer, retrying what is worth retrying. Throws a
 * ModelError, an error named 'AbortError' when `call.signal` aborts, or a programming error as is.
 * Note for `onText` users: a retried attempt streams its text again from the start.
 */
export async function postStreaming<T>(t: Transport, call: StreamCall, newReader: () => AnswerReader<T>): Promise<T> {
  try {
    return await withRetries(t, call, newReader);
  } catch (e) {
    throw scrubbed(e, t.secrets);
  }
}

async function withRetries<T>(t: Transport, call: StreamCall, newReader: () => AnswerReader<T>): Promise<T> {
  const deadline = Date.now() + t.totalMs;
  for (let attempt = 1; ; attempt++) {
    if (call.signal.aborted) throw cancelledError();
    let failure: RetryableError;
    try {
      return await attemptOnce(t, call, newReader(), deadline);
    } catch (e) {
      if (!(e instanceof RetryableError)) throw e;
      failure = e;
    }
    if (attempt > t.retries) throw gaveUp(t, failure, attempt);
    const waitMs = waitBeforeRetry(t, failure, attempt);
    if (Date.now() + waitMs >= deadline) throw outOfTime(t, failure);
    t.onRetry?.({ attempt, waitMs, reason: redact(failure.message, t.secrets) });
    await untilAborted((t.sleep ?? sleep)(waitMs, call.signal), call.signal);
  }
}

async function attemptOnce<T>(t: Transport, call: StreamCall, reader: AnswerReader<T>, deadline: number): Promise<T> {
  const watch = new Watchdog(call.signal, t, deadline);
  let answering = false; // the response has begun: a network error now is a dropped connection
  try {
    const response = await (t.fetch ?? fetch)(call.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...call.headers },
      body: JSON.stringify(call.body),
      signal: watch.signal,
    });
    answering = true;
    if (!response.ok) throw await statusFailure(t, response);
    if (!response.body) throw droppedConnection(t, 'the answer had no body');
    if (/json/i.test(response.headers.get('content-type') ?? '')) throw await notStreamed(t, response);
    for await (const event of readSse(watch.watched(response.body))) {
      if (reader.take(event)) return reader.answer();
    }
    throw droppedConnection(t, 'the stream ended before the answer was complete');
  } catch (e) {
    throw watch.explain(e, answering);
  } finally {
    watch.stop();
  }
}

type TimeoutKind = 'first-byte' | 'idle' | 'total';

/** Aborts an attempt when the user cancels or a timeout passes, and says afterwards which it was. */
class Watchdog {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private fired: TimeoutKind | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private readonly totalTimer: NodeJS.Timeout;
  private readonly onUserAbort = () => this.controller.abort();

  constructor(
    private readonly userSignal: AbortSignal,
    private readonly t: Transport,
    deadline: number,
  ) {
    userSignal.addEventListener('abort', this.onUserAbort, { once: true });
    this.arm('first-byte', t.firstByteMs);
    this.totalTimer = setTimeout(() => this.fire('total'), Math.max(0, deadline - Date.now()));
  }

  /** The body's chunks; each one restarts the idle clock. */
  async *watched(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      this.arm('idle', this.t.idleMs);
      yield chunk;
    }
  }

  explain(e: unknown, answering: boolean): unknown {
    if (this.userSignal.aborted) return cancelledError();
    if (this.fired) return timeoutFailure(this.t, this.fired);
    if (e instanceof RetryableError || e instanceof RatchetError) return e;
    if (isNetworkError(e)) {
      const why = networkCause(e);
      return answering
        ? droppedConnection(this.t, `the connection dropped mid-answer (${why})`)
        : new RetryableError(
            `Could not reach ${this.t.who.includes(this.t.baseUrl) ? this.t.who : `${this.t.who} at ${this.t.baseUrl}`} (${why})`,
            'MODEL_NETWORK',
            `Check that the server is running and reachable, and that \`baseUrl\` (${this.t.baseUrl}) is right.`,
          );
    }
    return e;
  }

  stop(): void {
    clearTimeout(this.gapTimer);
    clearTimeout(this.totalTimer);
    this.userSignal.removeEventListener('abort', this.onUserAbort);
  }

  private arm(kind: TimeoutKind, ms: number): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = setTimeout(() => this.fire(kind), ms);
  }

  private fire(kind: TimeoutKind): void {
    this.fired ??= kind;
    this.controller.abort();
  }
}

function timeoutFailure(t: Transport, kind: TimeoutKind): Error {
  if (kind === 'total') {
    return new ModelError(
      `${capitalized(t.who)} took longer than ${seconds(t.totalMs)} s to answer (total timeout)`,
      'Raise `timeouts.totalSeconds` in the model config, or ask for a shorter answer (`maxTokens`).',
      'MODEL_TIMEOUT',
    );
  }
  if (kind === 'first-byte') {
    return new RetryableError(
      `${capitalized(t.who)} sent nothing within ${seconds(t.firstByteMs)} s (first-byte timeout)`,
      'MODEL_TIMEOUT',
      'A model that is slow to start (a local model still loading, a long prompt) needs a larger `timeouts.firstByteSeconds` in the model config.',
    );
  }
  return new RetryableError(
    `${capitalized(t.who)} stopped streaming: nothing for ${seconds(t.idleMs)} s (idle timeout)`,
    'MODEL_TIMEOUT',
    'A model that pauses long between pieces of its answer needs a larger `timeouts.idleSeconds` in the model config.',
  );
}

function droppedConnection(t: Transport, why: string): RetryableError {
  return new RetryableError(
    `${capitalized(t.who)} did not finish the answer: ${why}`,
    'MODEL_NETWORK',
    'The connection is unreliable or the server restarted; try again, or raise `retries` in the model config.',
  );
}

async function statusFailure(t: Transport, response: Response): Promise<Error> {
  const status = response.status;
  const detail = providerDetail(await response.text().catch(() => ''));
  const said = detail.message ? `: ${detail.message}` : '';
  const who = capitalized(t.who);
  if (status === 429 && /insufficient_quota|credit balance/i.test(`${detail.kind} ${detail.message}`)) {
    return new ModelError(`${who} refused the request: the account is out of quota (HTTP 429)${said}`, 'Check the plan and billing of the account the key belongs to.', 'MODEL_QUOTA', status);
  }
  if (RETRYABLE_STATUSES.has(status)) {
    const retryAfterMs = retryAfter(response.headers);
    return status === 429
      ? new RetryableError(`${who} is rate-limiting requests (HTTP 429)${said}`, 'MODEL_RATE_LIMITED', 'Lower `concurrency` or raise `retries` in the model config, or check the rate limits of your plan.', retryAfterMs, status)
      : new RetryableError(`${who} failed (HTTP ${status}${status === 529 ? ', overloaded' : ''})${said}`, 'MODEL_UNAVAILABLE', 'The service is overloaded or down; try again later, or raise `retries` in the model config.', retryAfterMs, status);
  }
  if (status === 401) {
    return t.keySent
      ? new ModelError(`${who} rejected the API key (HTTP 401)${said}`, `The key is wrong, expired or revoked: set ${t.keyEnv} to a valid key.`, 'MODEL_AUTH', status)
      : new ModelError(`${who} wants an API key and none was sent (HTTP 401)${said}`, `Set ${t.keyEnv} to your key (or \`apiKeyEnv\` in the model config to the variable that holds it).`, 'MODEL_AUTH', status);
  }
  if (status === 403) {
    return new ModelError(`${who} refused access (HTTP 403)${said}`, `The key works but may not use model "${t.model}": check the key's project, permissions or region.`, 'MODEL_FORBIDDEN', status);
  }
  if (status === 404) {
    return new ModelError(`${who} has no model "${t.model}" there, or the URL is wrong (HTTP 404)${said}`, `Check \`model\` ("${t.model}") and \`baseUrl\` (${t.baseUrl}) in the model config.`, 'MODEL_NOT_FOUND', status);
  }
  if (status === 400 || status === 413 || status === 422) {
    return new ModelError(`${who} refused the request (HTTP ${status})${said}`, 'Check the model config (`model`, `maxTokens`); a prompt too long for the model needs a smaller `contextTokens`.', 'MODEL_BAD_REQUEST', status);
  }
  return new ModelError(`${who} answered HTTP ${status}${said}`, `Check \`baseUrl\` (${t.baseUrl}) and \`model\` ("${t.model}") in the model config.`, 'MODEL_HTTP', status);
}

async function notStreamed(t: Transport, response: Response): Promise<Error> {
  const detail = providerDetail(await response.text().catch(() => ''));
  return new ModelError(
    `${capitalized(t.who)} answered with plain JSON instead of a stream${detail.message ? `: ${detail.message}` : ''}`,
    `Check that \`baseUrl\` (${t.baseUrl}) points at an API that streams answers (\`stream: true\`).`,
    'MODEL_NOT_STREAMING',
    response.status,
  );
}

/** The provider's own words from an error body: `{error: {message, type}}`, `{error: "…"}`, `{message}`, `{detail}` or text. */
/** One JSON piece of a stream; anything else means `baseUrl` points at the wrong kind of API. */
export function parseStreamJson<T>(t: Transport, data: string, api: string): T {
  try {
    return JSON.parse(data) as T;
  } catch {
    throw new ModelError(`The stream from ${t.who} held a piece that is not JSON: ${data.slice(0, 200)}`, `Check that \`baseUrl\` (${t.baseUrl}) points at ${api}.`, 'MODEL_BAD_STREAM');
  }
}

export function providerDetail(body: string): { message: string; kind: string } {
  const text = body.trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { message: oneLine(text), kind: '' };
  }
  const j = (json ?? {}) as Record<string, unknown>;
  const error = j.error as Record<string, unknown> | string | undefined;
  const nested = typeof error === 'object' && error !== null ? error : undefined;
  const message = nested?.message ?? (typeof error === 'string' ? error : undefined) ?? j.message ?? j.detail;
  const kind = [nested?.type, nested?.code, j.type].filter((x) => typeof x === 'string').join(' ');
  return { message: typeof message === 'string' ? oneLine(message) : oneLine(text), kind };
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}…` : flat;
}

/** Milliseconds from `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`. */
export function retryAfter(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function waitBeforeRetry(t: Transport, failure: RetryableError, attempt: number): number {
  if (failure.retryAfterMs === undefined) return backoff(attempt, t.random ?? Math.random);
  if (failure.retryAfterMs > t.maxRetryWaitMs) {
    throw new ModelError(
      `${failure.message}; the server asks to wait ${seconds(failure.retryAfterMs)} s before trying again, longer than the ${seconds(t.maxRetryWaitMs)} s Ratchet waits`,
      failure.code === 'MODEL_RATE_LIMITED' ? 'The rate limit or quota may be used up for a while: check your plan, or try again later.' : failure.hint,
      failure.code,
      failure.status,
    );
  }
  return failure.retryAfterMs;
}

/** Exponential backoff from 1 s, at most 30 s, with jitter so parallel callers do not retry in step. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

function gaveUp(t: Transport, failure: RetryableError, attempts: number): ModelError {
  const message = attempts === 1 ? failure.message : `${failure.message} (gave up after ${attempts} attempts)`;
  const hint = t.retries === 0 && failure.code !== 'MODEL_TIMEOUT' ? `${failure.hint} (\`retries\` is 0.)` : failure.hint;
  return new ModelError(message, hint, failure.code, failure.status);
}

function outOfTime(t: Transport, failure: RetryableError): ModelError {
  return new ModelError(
    `${failure.message}; no time is left to try again within the ${seconds(t.totalMs)} s total timeout`,
    'Raise `timeouts.totalSeconds` in the model config.',
    failure.code,
    failure.status,
  );
}

/** The error a cancelled call throws, named like the platform's. */
export function cancelledError(): Error {
  const e = new Error('The model call was cancelled');
  e.name = 'AbortError';
  return e;
}

/** Waits `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(cancelledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, but rejected at once when `signal` aborts (for a sleep that ignores its signal). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(cancelledError());
    const onAbort = () => reject(cancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e instanceof TypeError && (e.message === 'fetch failed' || e.message === 'terminated' || e.cause !== undefined)) return true;
  const code = (e as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^(E[A-Z]+|UND_ERR)/.test(code);
}

/** `ECONNREFUSED`, `other side closed`, …: the most specific reason undici gives. */
function networkCause(e: unknown): string {
  let cause: unknown = e;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) cause = cause.errors[0];
  const err = cause as NodeJS.ErrnoException;
  return err.code && !err.code.startsWith('UND_ERR') ? err.code : (err.message ?? String(cause));
}

/** Blanks the key out of anything that leaves this module. */
function scrubbed(e: unknown, secrets: string[]): unknown {
  if (secrets.length === 0 || !(e instanceof Error)) return e;
  if (e instanceof ModelError) return new ModelError(redact(e.message, secrets), e.hint && redact(e.hint, secrets), e.code, e.status);
  if (e instanceof RatchetError) return new RatchetError(redact(e.message, secrets), e.hint && redact(e.hint, secrets), e.code);
  e.message = redact(e.message, secrets);
  if (e.stack) e.stack = redact(e.stack, secrets);
  return e;
}

/** Blanks each secret out of `text`; one shorter than 8 characters (a placeholder like "ollama") is left, or words would be cut up. */
export function redact(text: string, secrets: string[]): string {
  return secrets.reduce((s, secret) => (secret.length >= 8 ? s.split(secret).join('***') : s), text);
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
