// Every proposer the engine knows, by name. Adding one is adding a file and a line here.
import { RatchetError } from '../errors';
import type { Proposer } from '../types';
import { ReplayProposer } from './replay';

export interface ProposerOptions {
  /** Folder of patches, for `replay`. */
  patches?: string;
}

type Factory = (opts: ProposerOptions) => Proposer;

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

export function createProposer(name: string, opts: ProposerOptions): Proposer {
  const factory = factories[name];
  if (!factory) throw new RatchetError(`unknown proposer "${name}"`, `use one of: ${proposerNames().join(', ')}`);
  return factory(opts);
}
