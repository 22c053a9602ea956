// A ChatModel for any OpenAI-compatible chat-completions endpoint: OpenAI itself, or a local server
// (Ollama, vLLM, llama.cpp, LM Studio) that needs no key. Answers are streamed.

import type { ModelConfig } from './config';
import { RetryableError, makeTransport, parseStreamJson, postStreaming, providerDetail, type AnswerReader, type Transport, type TransportOptions } from './http';
import type { ChatAnswer, ChatModel, ChatRequest } from './model';
import type { SseEvent } from './sse';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const OPENAI_KEY_ENV = 'OPENAI_API_KEY';

export interface ClientAccess {
  /** Absent for a local server that needs none. */
  apiKey?: string;
  /** Where the key came from (named in the fix of a 401). */
  keyEnv: string;
}

export function createOpenAiModel(config: ModelConfig, access: ClientAccess, options: TransportOptions = {}): ChatModel {
  const baseUrl = (config.baseUrl ?? OPENAI_BASE_URL).replace(/\/+$/, '');
  const official = isOfficialOpenAi(baseUrl);
  const who = official ? 'OpenAI' : `the OpenAI-compatible server at ${baseUrl}`;
  const transport = makeTransport(config, { who, baseUrl, keyEnv: access.keyEnv, apiKey: access.apiKey }, options);
  return {
    name: `openai:${config.model}`,
    chat: (req) => chat(transport, config, access.apiKey, official, req),
  };
}

function chat(t: Transport, config: ModelConfig, apiKey: string | undefined, official: boolean, req: ChatRequest): Promise<ChatAnswer> {
  const messages = [...(req.system ? [{ role: 'system', content: req.system }] : []), ...req.messages];
  const temperature = req.temperature ?? config.temperature;
  const body = {
    model: config.model,
    messages,
    // OpenAI's own newer models refuse `max_tokens`; the servers that copy its API know only that one.
    [official ? 'max_completion_tokens' : 'max_tokens']: req.maxTokens,
    ...(temperature === undefined ? {} : { temperature }),
    stream: true,
    stream_options: { include_usage: true },
  };
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const promptChars = req.system.length + req.messages.reduce((n, m) => n + m.content.length, 0);
  return postStreaming(t, { url: `${t.baseUrl}/chat/completions`, headers, body, signal: req.signal }, () =>
    answerReader(t, req, promptChars),
  );
}

interface CompletionChunk {
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: unknown;
}

function answerReader(t: Transport, req: ChatRequest, promptChars: number): AnswerReader<ChatAnswer> {
  let text = '';
  let model = t.model;
  let stopReason: string | undefined;
  let usage: CompletionChunk['usage'];
  return {
    take(event: SseEvent): boolean {
      if (event.data.trim() === '[DONE]') return true;
      const chunk = parseStreamJson<CompletionChunk>(t, event.data, 'an OpenAI-compatible API');
      if (chunk.error) throw streamedError(t, chunk.error);
      if (chunk.model) model = chunk.model;
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (piece) {
        text += piece;
        req.onText?.(piece);
      }
      if (choice?.finish_reason) stopReason = choice.finish_reason;
      if (chunk.usage) usage = chunk.usage;
      return false;
    },
    answer(): ChatAnswer {
      // Servers that ignore `include_usage` leave the count to an estimate: about 4 characters a token.
      const inputTokens = usage?.prompt_tokens ?? Math.ceil(promptChars / 4);
      const outputTokens = usage?.completion_tokens ?? Math.ceil(text.length / 4);
      return { text, model, stopReason, usage: { inputTokens, outputTokens, costUsd: 0 } };
    },
  };
}


/** An error reported inside a 200 stream (vLLM, OpenAI under load): the server's trouble, worth a retry. */
function streamedError(t: Transport, error: unknown): RetryableError {
  const { message } = providerDetail(JSON.stringify({ error }));
  return new RetryableError(`The stream from ${t.who} broke off with an error: ${message}`, 'MODEL_UNAVAILABLE', 'Try again later, or raise `retries` in the model config.');
}

function isOfficialOpenAi(baseUrl: string): boolean {
  try {
    return new URL(baseUrl).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}
