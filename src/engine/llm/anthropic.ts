// A ChatModel for the Anthropic Messages API, streamed. The key is required; an `error` event in the
// stream (the API overloaded) is retried like an HTTP 529.

import type { ModelConfig } from './config';
import { ModelError, RetryableError, makeTransport, parseStreamJson, postStreaming, type AnswerReader, type Transport, type TransportOptions } from './http';
import type { ChatAnswer, ChatModel, ChatRequest } from './model';
import type { ClientAccess } from './openai';
import type { SseEvent } from './sse';

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_KEY_ENV = 'ANTHROPIC_API_KEY';
const API_VERSION = '2023-06-01';
/** Error types of the stream's `error` event that go away by themselves. */
const PASSING_ERRORS = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

export function createAnthropicModel(config: ModelConfig, access: ClientAccess, options: TransportOptions = {}): ChatModel {
  const apiKey = access.apiKey;
  if (!apiKey) {
    throw new ModelError(
      `No Anthropic API key: ${access.keyEnv} is not set`,
      `Set ${access.keyEnv} to your Anthropic API key (or \`apiKeyEnv\` in the model config to the variable that holds it).`,
      'MODEL_NO_KEY',
    );
  }
  const baseUrl = (config.baseUrl ?? ANTHROPIC_BASE_URL).replace(/\/+$/, '');
  const who = baseUrl === ANTHROPIC_BASE_URL ? 'Anthropic' : `the Anthropic API at ${baseUrl}`;
  const transport = makeTransport(config, { who, baseUrl, keyEnv: access.keyEnv, apiKey }, options);
  return {
    name: `anthropic:${config.model}`,
    chat: (req) => chat(transport, config, apiKey, req),
  };
}

function chat(t: Transport, config: ModelConfig, apiKey: string, req: ChatRequest): Promise<ChatAnswer> {
  const temperature = req.temperature ?? config.temperature;
  const body = {
    model: config.model,
    max_tokens: req.maxTokens,
    ...(req.system ? { system: req.system } : {}), // the API refuses an empty system text
    messages: req.messages,
    ...(temperature === undefined ? {} : { temperature }),
    stream: true,
  };
  const headers = { 'x-api-key': apiKey, 'anthropic-version': API_VERSION };
  return postStreaming(t, { url: `${t.baseUrl}/v1/messages`, headers, body, signal: req.signal }, () => answerReader(t, req));
}

interface StreamEvent {
  type?: string;
  message?: { model?: string; usage?: TokenCounts };
  delta?: { type?: string; text?: string; stop_reason?: string | null };
  usage?: TokenCounts;
  error?: { type?: string; message?: string };
}

interface TokenCounts {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

function answerReader(t: Transport, req: ChatRequest): AnswerReader<ChatAnswer> {
  let text = '';
  let model = t.model;
  let stopReason: string | undefined;
  let inputTokens = 0;
  let outputTokens = 0;
  return {
    take(event: SseEvent): boolean {
      const data = parseStreamJson<StreamEvent>(t, event.data, 'the Anthropic API');
      switch (data.type ?? event.event) {
        case 'message_start':
          model = data.message?.model ?? model;
          inputTokens = promptTokens(data.message?.usage);
          outputTokens = data.message?.usage?.output_tokens ?? outputTokens;
          return false;
        case 'content_block_delta':
          if (data.delta?.type === 'text_delta' && data.delta.text) {
            text += data.delta.text;
            req.onText?.(data.delta.text);
          }
          return false;
        case 'message_delta':
          stopReason = data.delta?.stop_reason ?? stopReason;
          outputTokens = data.usage?.output_tokens ?? outputTokens;
          if (data.usage?.input_tokens !== undefined) inputTokens = promptTokens(data.usage);
          return false;
        case 'message_stop':
          return true;
        case 'error':
          throw streamedError(t, data.error);
        default:
          return false; // ping, content_block_start/stop, and event types added later
      }
    },
    answer: () => ({ text, model, stopReason, usage: { inputTokens, outputTokens, costUsd: 0 } }),
  };
}

/** Cached prompt tokens are counted apart from `input_tokens`; the prompt is all of them. */
function promptTokens(usage: TokenCounts | undefined): number {
  return (usage?.input_tokens ?? 0) + (usage?.cache_creation_input_tokens ?? 0) + (usage?.cache_read_input_tokens ?? 0);
}

function streamedError(t: Transport, error: StreamEvent['error']): Error {
  const type = error?.type ?? 'unknown_error';
  const message = `The stream from ${t.who} broke off with ${type}${error?.message ? `: ${error.message}` : ''}`;
  if (PASSING_ERRORS.has(type)) {
    return new RetryableError(message, 'MODEL_UNAVAILABLE', 'The API is overloaded; try again later, or raise `retries` in the model config.');
  }
  return new ModelError(message, 'Check the model config (`model`, `maxTokens`).', 'MODEL_STREAM_ERROR');
}

