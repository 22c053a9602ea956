// Registers the proposers that ship with the engine.
import { registerProposer } from './registry';
import { RandomProposer } from './random';
import { TuneProposer } from './tune';

let done = false;

export function registerBuiltInProposers(): void {
  if (done) return;
  done = true;
  registerProposer('tune', () => new TuneProposer());
  registerProposer('random', () => new RandomProposer());
}
