// What the llm proposer gets when a search starts from the editor: ProposerOptions from the
// settings (stored in search.json, so never a key) and a ProposerRuntime (the key, the editor's own
// models, the retry log), built fresh at every start and resume.
import { RatchetError } from '../engine/errors';
import type { ModelConfig } from '../engine/llm/config';
import type { ChatModel } from '../engine/llm/model';
import { parseModelSpec, parsePrice } from '../engine/llm/spec';
import { defaultGuidanceFile } from '../engine/proposers/llm/guidance';
import type { ProposerOptions, ProposerRuntime } from '../engine/proposers/registry';
import type { ModelBudgetSettings, ModelSettings } from './protocol';

/** What only the editor can give the server: keys from its secret storage, its language models. */
export interface EditorBridge {
  apiKey(provider: string): Promise<string | undefined>;
  chatModel(config: ModelConfig): ChatModel;
}

const MODEL_EXAMPLES = 'e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, or vscode:copilot/gpt-4o for the editor\'s own models';

/** The llm proposer's stored options, from the `ratchet.model.*` settings of a new search on `file`. */
export function llmProposerOptions(file: string, model: ModelSettings | undefined, budget: ModelBudgetSettings | undefined): ProposerOptions {
  const name = model?.name.trim();
  if (!name) throw new RatchetError('the llm proposer needs a model', `set ratchet.model.name, ${MODEL_EXAMPLES}`);
  const config: ModelConfig = { ...inSetting('ratchet.model.name', `as PROVIDER:MODEL, ${MODEL_EXAMPLES}`, () => parseModelSpec(name)) };
  if (model?.baseUrl?.trim()) config.baseUrl = model.baseUrl.trim();
  if (model?.price?.trim()) config.price = inSetting('ratchet.model.price', 'as IN/OUT dollars per million tokens, e.g. 0.15/0.6', () => parsePrice(model.price!));
  if (model?.contextTokens) config.contextTokens = model.contextTokens;
  if (budget?.usd && !config.price) {
    throw new RatchetError('a dollar budget needs the model\'s price', 'set ratchet.model.price to IN/OUT dollars per million tokens (e.g. 0.15/0.6), or clear ratchet.model.budgetUsd');
  }
  return { model: config, budget: budgetOf(budget), guidance: defaultGuidanceFile(file), ...(model?.review === false ? { review: false } : {}) };
}

export function budgetOf(b: ModelBudgetSettings | undefined): ProposerOptions['budget'] {
  return { maxUsd: b?.usd || undefined, maxTokens: b?.tokens || undefined };
}

/**
 * The never-stored half: the editor's model over the connection for `vscode:`, else the key (the
 * one given, or asked of the editor), and retries reported to the search's log.
 */
export async function llmRuntime(config: ModelConfig, given: string | undefined, editor: EditorBridge | undefined, log: (line: string) => void): Promise<ProposerRuntime> {
  const runtime: ProposerRuntime = { onModelRetry: log };
  if (config.provider === 'vscode') {
    if (!editor) throw new RatchetError('the editor\'s language models are reachable only from the editor', 'start the search from VS Code, or use an openai or anthropic model');
    runtime.chatModel = editor.chatModel(config);
  } else {
    runtime.apiKey = given ?? (await editor?.apiKey(config.provider));
  }
  return runtime;
}

/** The engine's words for a missing key point at environment variables; from the editor the fix is the command. */
export function withEditorHint(e: unknown): unknown {
  if (e instanceof RatchetError && e.code === 'MODEL_NO_KEY') {
    return new RatchetError(e.message.replace(/: \S+ is not set$/, ''), 'run "Ratchet: Set Model API Key", or set the environment variable before starting VS Code', e.code);
  }
  return e;
}

/** Runs a parser of a setting's value; its error names the setting instead of the CLI flag. */
function inSetting<T>(setting: string, format: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof RatchetError) throw new RatchetError(`${e.message} (${setting})`, `write it ${format}`, e.code);
    throw e;
  }
}
