// What a search's model calls have cost, against its budget: one account for every caller of the
// search's model (the proposer and the auditor model), so each refuses to call once it is spent.
import { RatchetError } from '../errors';
import type { ModelBudget } from './config';
import { addUsage, NO_USAGE, type Usage } from './model';

export class ModelAccount {
  private spent: Usage = NO_USAGE;
  private opened = false;

  constructor(readonly budget?: ModelBudget) {}

  /** Adds what earlier experiments cost (a resumed search), once: later calls do nothing. Whoever
   * first sees the journal's history opens the account; calls charged before it still count. */
  open(earlier: () => Usage): void {
    if (this.opened) return;
    this.opened = true;
    this.spent = addUsage(this.spent, earlier());
  }

  charge(usage: Usage): void {
    this.spent = addUsage(this.spent, usage);
  }

  get total(): Usage {
    return this.spent;
  }

  /** Throws RatchetError (code BUDGET) when the budget is spent, saying how to raise it. */
  check(): void {
    const budget = this.budget;
    if (!budget) return;
    const tokens = this.spent.inputTokens + this.spent.outputTokens;
    if (budget.maxTokens !== undefined && tokens >= budget.maxTokens) {
      throw new RatchetError(`the model budget is spent: ${tokens} tokens of ${budget.maxTokens}`, 'raise it with --budget-tokens (or the ratchet.model.budgetTokens setting) and resume the search', 'BUDGET');
    }
    if (budget.maxUsd !== undefined && this.spent.costUsd >= budget.maxUsd) {
      throw new RatchetError(`the model budget is spent: $${this.spent.costUsd.toFixed(2)} of $${budget.maxUsd.toFixed(2)}`, 'raise it with --budget-usd (or the ratchet.model.budgetUsd setting) and resume the search', 'BUDGET');
    }
  }
}
