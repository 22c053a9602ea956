// Answers the server's ratchet/lmChat with one of the editor's own language models (vscode.lm).
// The vscode calls arrive as an `LmAccess`, so this file runs, and is tested, without the editor.
import type * as vscode from 'vscode';
import type { LmChatParams, LmChatResult, LmSelector } from '../server/protocol';

/** The slice of a vscode.LanguageModelChat used here; M is the editor's message type. */
export interface LmModel<M> {
  readonly id: string;
  readonly vendor: string;
  readonly family: string;
  sendRequest(messages: M[], options: { justification?: string }, token: vscode.CancellationToken): Thenable<{ text: AsyncIterable<string> }>;
  countTokens(text: string | M, token?: vscode.CancellationToken): Thenable<number>;
}

/** vscode.lm.selectChatModels and the two message constructors, or a test's fakes of them. */
export interface LmAccess<M> {
  selectChatModels(selector?: LmSelector): Thenable<readonly LmModel<M>[]>;
  user(text: string): M;
  assistant(text: string): M;
}

/** A failure the user can fix; the client sends it back with `hint` and `code` as the error's data. */
export class LmChatError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'LmChatError';
  }
}

const JUSTIFICATION = 'Ratchet asks the model for the next experiment of the search you started.';
const USE_KEYED = 'or set ratchet.model.name to an openai: or anthropic: model and run "Ratchet: Set Model API Key"';

export async function lmChat<M>(lm: LmAccess<M>, p: LmChatParams, token: vscode.CancellationToken): Promise<LmChatResult> {
  const model = await pickModel(lm, p.selector);
  // vscode.lm has no system role: the instructions open the first user message.
  const [first, ...rest] = p.messages;
  const opening = first?.role === 'user' ? [lm.user(`${p.system}\n\n${first.content}`)] : [lm.user(p.system), ...(first ? [lm.assistant(first.content)] : [])];
  const messages = [...opening, ...rest.map((m) => (m.role === 'user' ? lm.user(m.content) : lm.assistant(m.content)))];
  let text = '';
  try {
    const response = await model.sendRequest(messages, { justification: JUSTIFICATION }, token);
    for await (const piece of response.text) text += piece;
  } catch (e) {
    throw explained(e, `${model.vendor}/${model.family}`);
  }
  const inputTokens = (await Promise.all(messages.map((m) => count(model, m, token)))).reduce((a, b) => a + b, 0);
  return { text, inputTokens, outputTokens: await count(model, text, token), model: `${model.vendor}/${model.family}` };
}

/** By vendor and family; failing that, the name as a model id; else an error listing what there is. */
async function pickModel<M>(lm: LmAccess<M>, selector: LmSelector): Promise<LmModel<M>> {
  const byFamily = await lm.selectChatModels(selector);
  if (byFamily[0]) return byFamily[0];
  if (selector.family && !selector.id) {
    const byId = await lm.selectChatModels({ ...(selector.vendor ? { vendor: selector.vendor } : {}), id: selector.family });
    if (byId[0]) return byId[0];
  }
  const wanted = [selector.vendor, selector.family ?? selector.id].filter(Boolean).join('/');
  const all = await lm.selectChatModels();
  if (all.length === 0) {
    throw new LmChatError(`The editor has no language models (wanted ${wanted})`, `install and sign in to a chat extension such as GitHub Copilot, ${USE_KEYED}`, 'MODEL_EDITOR_NONE');
  }
  const names = [...new Set(all.map((m) => `${m.vendor}/${m.family}`))].join(', ');
  throw new LmChatError(`The editor has no language model matching ${wanted}`, `set ratchet.model.name to vscode: and one of ${names}, ${USE_KEYED}`, 'MODEL_EDITOR_NOT_FOUND');
}

/** The model's own tokenizer; should it fail, a rough four characters a token, as a count is only for the budget. */
async function count<M>(model: LmModel<M>, what: string | M, token: vscode.CancellationToken): Promise<number> {
  try {
    return await model.countTokens(what, token);
  } catch {
    return Math.ceil((typeof what === 'string' ? what.length : 0) / 4);
  }
}

/** vscode.LanguageModelError's codes, in words, with what to do about each. */
function explained(e: unknown, model: string): LmChatError {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  const detail = e instanceof Error ? e.message : String(e);
  switch (code) {
    case 'NoPermissions':
      return new LmChatError(`Ratchet may not use the editor's model ${model} (${detail})`, 'allow it when VS Code asks, or under Accounts › Manage Language Model Access, then resume the search', 'MODEL_EDITOR_NO_PERMISSION');
    case 'Blocked':
      return new LmChatError(`The editor's model ${model} refused the request (${detail})`, `a quota or rate limit is reached: wait and resume the search, ${USE_KEYED}`, 'MODEL_EDITOR_BLOCKED');
    case 'NotFound':
      return new LmChatError(`The editor's model ${model} is gone (${detail})`, 'pick another in ratchet.model.name, e.g. vscode:copilot/gpt-4o', 'MODEL_EDITOR_NOT_FOUND');
    default:
      return new LmChatError(`The editor's model ${model} failed: ${detail}`, `resume the search to try again, ${USE_KEYED}`, 'MODEL_EDITOR');
  }
}
