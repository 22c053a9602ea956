// Makes the ChatModel a ModelConfig names: finds its key, prices its answers and keeps at most
// `concurrency` calls in flight. The key is resolved here and never stored or shown.

import { RatchetError } from '../errors';
import { ANTHROPIC_KEY_ENV, createAnthropicModel } from './anthropic';
import type { ModelConfig } from './config';
import { ModelError, cancelledError, type RetryInfo, type Sleep } from './http';
import type { ChatAnswer, ChatModel, ChatRequest } from './model';
import { OPENAI_KEY_ENV, createOpenAiModel } from './openai';

export interface ModelAccessOptions {
  /** The key itself (e.g. from the editor's SecretStorage); wins over the environment. */
  apiKey?: string;
  /** Where `apiKeyEnv` is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** How to wait between retries; tests pass a faster one. */
  sleep?: Sleep;
  /** Told of each retry, for a log line; never holds the key. */
  onRetry?: (info: RetryInfo) => void;
}

export const DEFAULT_CONCURRENCY = 2;

export function createChatModel(config: ModelConfig, opts: ModelAccessOptions = {}): ChatModel {
  if (config.provider === 'vscode') {
    throw new RatchetError(
      `The editor's language models ("vscode" provider, ${config.model}) are only available from inside the editor`,
      'Start the search from VS Code, or set the model provider to "openai" or "anthropic" with an API key.',
      'MODEL_EDITOR_ONLY',
    );
  }
  checkBaseUrl(config);
  const keyEnv = config.apiKeyEnv ?? defaultKeyEnv(config.provider);
  const apiKey = resolveApiKey(keyEnv, opts);
  const transport = { fetch: opts.fetch, sleep: opts.sleep, onRetry: opts.onRetry };
  let model: ChatModel;
  if (config.provider === 'anthropic') {
    model = createAnthropicModel(config, { apiKey, keyEnv }, transport);
  } else if (config.provider === 'openai') {
    if (!apiKey && config.baseUrl === undefined) throw missingKey('OpenAI', keyEnv);
    model = createOpenAiModel(config, { apiKey, keyEnv }, transport);
  } else {
    throw new RatchetError(`Unknown model provider "${String(config.provider)}"`, 'Use "openai", "anthropic" or "vscode".', 'MODEL_CONFIG');
  }
  return limited(priced(model, config.price), config.concurrency ?? DEFAULT_CONCURRENCY);
}

export function defaultKeyEnv(provider: ModelConfig['provider']): string {
  return provider === 'anthropic' ? ANTHROPIC_KEY_ENV : OPENAI_KEY_ENV;
}

/** Dollars for the tokens of an answer; 0 when no price is configured. */
export function costOf(inputTokens: number, outputTokens: number, price: ModelConfig['price']): number {
  if (!price) return 0;
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1_000_000;
}

function resolveApiKey(keyEnv: string, opts: ModelAccessOptions): string | undefined {
  const key = (opts.apiKey ?? (opts.env ?? process.env)[keyEnv])?.trim();
  if (!key) return undefined;
  // A key with a space or a non-ASCII character cannot go into a header (and the platform's error
  // would quote the header, key and all); one in quotes was copied from a shell line.
  if (!/^[\x21-\x7e]+$/.test(key) || /^["']|["']$/.test(key)) {
    throw new ModelError(
      `The API key in ${keyEnv} has characters no key has (spaces, quotes or non-ASCII)`,
      `Set ${keyEnv} to the key alone, without quotes.`,
      'MODEL_BAD_KEY',
    );
  }
  return key;
}

function missingKey(who: string, keyEnv: string): ModelError {
  return new ModelError(
    `No ${who} API key: ${keyEnv} is not set`,
    `Set ${keyEnv} to your API key (or \`apiKeyEnv\` to the variable that holds it); a local OpenAI-compatible server needs only \`baseUrl\`.`,
    'MODEL_NO_KEY',
  );
}

function checkBaseUrl(config: ModelConfig): void {
  if (config.baseUrl === undefined) return;
  let url: URL | undefined;
  try {
    url = new URL(config.baseUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new RatchetError(
      `The model's baseUrl "${config.baseUrl}" is not an http(s) URL`,
      'Give a full URL, e.g. http://localhost:11434/v1 for Ollama.',
      'MODEL_CONFIG',
    );
  }
}

function priced(model: ChatModel, price: ModelConfig['price']): ChatModel {
  return {
    name: model.name,
    async chat(req: ChatRequest): Promise<ChatAnswer> {
      const answer = await model.chat(req);
      const { inputTokens, outputTokens } = answer.usage;
      return { ...answer, usage: { inputTokens, outputTokens, costUsd: costOf(inputTokens, outputTokens, price) } };
    },
  };
}

/** At most `slots` calls at once; the others wait their turn (or leave the queue when cancelled). */
function limited(model: ChatModel, slots: number): ChatModel {
  let free = Math.max(1, slots);
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  const acquire = (signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(cancelledError());
      if (free > 0) {
        free--;
        return resolve();
      }
      const onAbort = () => {
        waiting.splice(waiting.indexOf(turn), 1);
        reject(cancelledError());
      };
      const turn = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      waiting.push(turn);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  return {
    name: model.name,
    async chat(req: ChatRequest): Promise<ChatAnswer> {
      await acquire(req.signal);
      try {
        return await model.chat(req);
      } finally {
        release();
      }
    },
  };
}
