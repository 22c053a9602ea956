// What the engine needs from a language model: one chat turn in, one text answer out, with the
// tokens it cost. Providers (OpenAI-compatible endpoints, the Anthropic Messages API, the editor's
// own models) each implement `ChatModel`; nothing above this file knows which one it talks to.

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  /** Instructions that hold for the whole conversation. */
  system: string;
  messages: ChatMessage[];
  /** Most tokens the answer may have. */
  maxTokens: number;
  temperature?: number;
  signal: AbortSignal;
  /** Called with each piece of text as it streams in (for progress; the answer is returned whole). */
  onText?: (delta: string) => void;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Dollars, from the configured price per million tokens; 0 when no price is known. */
  costUsd: number;
}

export interface ChatAnswer {
  text: string;
  usage: Usage;
  /** The model that answered, as the provider named it. */
  model: string;
  /** Why the answer ended: 'stop', 'length' (cut at maxTokens), … as the provider said it. */
  stopReason?: string;
}

export interface ChatModel {
  /** e.g. `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`, `vscode:copilot/gpt-4o`. */
  readonly name: string;
  /** One turn. Throws `ModelError` (a RatchetError) for anything the user can act on. */
  chat(req: ChatRequest): Promise<ChatAnswer>;
}

export const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

export function addUsage(a: Usage, b: Usage): Usage {
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, costUsd: a.costUsd + b.costUsd };
}
