// Every proposer the engine knows, by name. Adding one is adding a file and a line here.
import { RatchetError } from '../errors';
import type { ModelBudget, ModelConfig } from '../llm/config';
import type { ChatModel } from '../llm/model';
import type { Proposer } from '../types';
import { ReplayProposer } from './replay';

/** What a proposer is configured with; stored in the search's settings, so it holds no secret. */
export interface ProposerOptions {
  /** Folder of patches, for `replay`. */
  patches?: string;
  /** The model, for `llm`. */
  model?: ModelConfig;
  /** What the model may cost this search, for `llm`. */
  budget?: ModelBudget;
  /** Whether the model also reviews each experiment that would be kept, for `llm` (default true). */
  review?: boolean;
  /** The user's guidance for the search (absolute path), read at every proposal, for `llm`. */
  guidance?: string;
}

/** What a proposer needs at run time and must never be stored: keys, live connections. */
export interface ProposerRuntime {
  /** The model's API key (e.g. from the editor's SecretStorage); else the environment's. */
  apiKey?: string;
  /** A model reached some other way (the editor's own models). */
  chatModel?: ChatModel;
  /** Told of each retried model call, for the log. */
  onModelRetry?: (reason: string) => void;
  /** Blanks the search's known secrets from text sent to a model. */
  redact?: (text: string) => string;
}

type Factory = (opts: ProposerOptions, runtime: ProposerRuntime) => Proposer;

const factories: Record<string, Factory> = {
  replay: (opts) => {
    if (!opts.patches) throw new RatchetError('the replay proposer needs a folder of patches', 'pass --patches DIR');
    return new ReplayProposer(opts.patches);
  },
};

export function registerProposer(name: string, factory: Factory): void {
  factories[name] = factory;
}

export function proposerNames(): string[] {
  return Object.keys(factories);
}

export function createProposer(name: string, opts: ProposerOptions, runtime: ProposerRuntime = {}): Proposer {
  const factory = factories[name];
  if (!factory) throw new RatchetError(`unknown proposer "${name}"`, `use one of: ${proposerNames().join(', ')}`);
  return factory(opts, runtime);
}
