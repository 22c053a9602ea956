// How a search reaches its model, as stored in search.json. The key itself is never stored: it is
// resolved when the search starts (from the environment or the editor's SecretStorage).

export type ModelProvider = 'openai' | 'anthropic' | 'vscode';

export interface ModelConfig {
  provider: ModelProvider;
  /** The provider's model name, e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `qwen2.5-coder:32b`. */
  model: string;
  /** Base URL of the API, e.g. `http://localhost:11434/v1` for Ollama; the provider's own by default. */
  baseUrl?: string;
  /** Name of the environment variable that holds the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY). */
  apiKeyEnv?: string;
  /** Most tokens one answer may have (default 4096). */
  maxTokens?: number;
  temperature?: number;
  /** Tokens the prompt may use; older history is summarised to fit (default 24000). */
  contextTokens?: number;
  /** Dollars per million tokens, for the cost budget and the usage record. */
  price?: { inputPerMTok: number; outputPerMTok: number };
  /** Seconds to wait for the first byte of an answer, and between two pieces of a stream. */
  timeouts?: { firstByteSeconds?: number; idleSeconds?: number; totalSeconds?: number };
  /** Retries after 429/5xx/dropped connections (default 4), with backoff that honours Retry-After. */
  retries?: number;
  /** Model calls that may be in flight at once (default 2). */
  concurrency?: number;
}

/** A per-search limit on what the model may cost; either may be absent. */
export interface ModelBudget {
  maxTokens?: number;
  maxUsd?: number;
}

export const DEFAULT_MAX_TOKENS = 4096;
export const DEFAULT_CONTEXT_TOKENS = 24_000;
