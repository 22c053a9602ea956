// Registers the proposers that ship with the engine.
import { registerProposer } from './registry';

let done = false;

export function registerBuiltInProposers(): void {
  if (done) return;
  done = true;
  // tune and random are added here once their modules land.
  void registerProposer;
}
