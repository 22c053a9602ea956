// The `random` proposer: uniform random search over the knobs `tune` finds, in the same space.
// It learns nothing, which makes it the yardstick `tune` is measured against.

import type { Proposal, ProposalContext, Proposer } from '../types.js';
import { loadState, makeProposal, ParamReader, randomVector } from './tune/index.js';

export class RandomProposer implements Proposer {
  readonly name = 'random';
  private readonly reader = new ParamReader();

  async propose(ctx: ProposalContext): Promise<Proposal | null> {
    ctx.signal.throwIfAborted();
    const state = await loadState(ctx, this.reader);
    const values = randomVector(state, () => ctx.random());
    return values ? makeProposal(state, values, 'random') : null;
  }
}
