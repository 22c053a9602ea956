// Registers the proposers that ship with the engine.
import { RatchetError } from '../errors';
import { ModelAccount } from '../llm/budget';
import { createChatModel } from '../llm/providers';
import { LlmProposer } from './llm';
import { registerProposer } from './registry';
import { RandomProposer } from './random';
import { TuneProposer } from './tune';

let done = false;

export function registerBuiltInProposers(): void {
  if (done) return;
  done = true;
  registerProposer('tune', () => new TuneProposer());
  registerProposer('random', () => new RandomProposer());
  registerProposer('llm', (opts, runtime) => {
    if (!opts.model) {
      throw new RatchetError('the llm proposer needs a model', 'pass --model PROVIDER:NAME, e.g. --model openai:gpt-4o-mini or --model anthropic:claude-sonnet-4-5');
    }
    const model =
      runtime.chatModel ??
      createChatModel(opts.model, { apiKey: runtime.apiKey, onRetry: runtime.onModelRetry && ((r) => runtime.onModelRetry!(`model call retry ${r.attempt} in ${Math.round(r.waitMs / 1000)} s: ${r.reason}`)) });
    return new LlmProposer({ model, config: opts.model, account: new ModelAccount(opts.budget), review: opts.review, guidanceFile: opts.guidance, redact: runtime.redact });
  });
}
