// A ChatModel over the editor's own language models: each turn is a ratchet/lmChat request to the
// client, which holds vscode.lm. This side never imports `vscode`; it only speaks the connection.
import { CancellationTokenSource, ResponseError, type CancellationToken } from 'vscode-languageserver/node';
import type { ModelConfig } from '../engine/llm/config';
import { cancelledError, ModelError } from '../engine/llm/http';
import type { ChatAnswer, ChatModel, ChatRequest } from '../engine/llm/model';
import { costOf } from '../engine/llm/providers';
import { ClientRequests, type LmChatErrorData, type LmChatParams, type LmChatResult, type LmSelector } from './protocol';

/** The part of an LSP connection this needs: the server's connection, or a plain JSON-RPC one in tests. */
export interface RequestChannel {
  sendRequest<R>(method: string, params: unknown, token?: CancellationToken): Promise<R>;
}

/** `copilot/gpt-4o` → {vendor, family}; `gpt-4o` → {family} (the client also tries it as an id). */
export function lmSelector(model: string): LmSelector {
  const slash = model.indexOf('/');
  if (slash < 0) return { family: model.trim() };
  const vendor = model.slice(0, slash).trim();
  const family = model.slice(slash + 1).trim();
  return { ...(vendor ? { vendor } : {}), ...(family ? { family } : {}) };
}

export function createEditorModel(channel: RequestChannel, config: Pick<ModelConfig, 'model' | 'price'>): ChatModel {
  const selector = lmSelector(config.model);
  return {
    name: `vscode:${config.model}`,
    async chat(req: ChatRequest): Promise<ChatAnswer> {
      if (req.signal.aborted) throw cancelledError();
      const params: LmChatParams = { selector, system: req.system, messages: req.messages, maxTokens: req.maxTokens, temperature: req.temperature };
      // The abort reaches the client as $/cancelRequest; the answer is not waited for, as a
      // cancelled request may still be answered late (or never, if the client is gone).
      const source = new CancellationTokenSource();
      let onAbort!: () => void;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => {
          source.cancel();
          reject(cancelledError());
        };
        req.signal.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => undefined); // only the race below reads it
      try {
        const r = await Promise.race([channel.sendRequest<LmChatResult>(ClientRequests.lmChat, params, source.token), aborted]);
        req.onText?.(r.text);
        return {
          text: r.text,
          usage: { inputTokens: r.inputTokens, outputTokens: r.outputTokens, costUsd: costOf(r.inputTokens, r.outputTokens, config.price) },
          model: r.model,
        };
      } catch (e) {
        if (req.signal.aborted) throw cancelledError();
        throw asModelError(e);
      } finally {
        req.signal.removeEventListener('abort', onAbort);
        source.dispose();
      }
    },
  };
}

/** The client's error, with its fix, as the engine's ModelError; anything else says the editor is unreachable. */
function asModelError(e: unknown): ModelError {
  if (e instanceof ResponseError) {
    const data = (e.data ?? {}) as Partial<LmChatErrorData>;
    return new ModelError(e.message, data.hint, data.code ?? 'MODEL_EDITOR');
  }
  return new ModelError(
    `The editor's language model could not be reached: ${e instanceof Error ? e.message : String(e)}`,
    'Keep the VS Code window open while the search runs, or use an openai or anthropic model (ratchet.model.name).',
    'MODEL_EDITOR',
  );
}
