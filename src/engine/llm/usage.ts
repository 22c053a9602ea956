// What model calls cost, summed over experiments and said in words. One definition for the
// budget, the command line, the editor's tree and the dashboard (which imports it too, so this
// module stays free of Node).
import type { ExperimentRecord, ProposalUsage } from '../types';
import { addUsage, NO_USAGE, type Usage } from './model';

export interface UsageTotal extends Usage {
  calls: number;
}

/** The model calls behind a set of experiments. */
export function totalUsage(experiments: readonly ExperimentRecord[]): UsageTotal {
  let total: UsageTotal = { ...NO_USAGE, calls: 0 };
  for (const e of experiments) if (e.usage) total = { ...addUsage(total, e.usage), calls: total.calls + e.usage.calls };
  return total;
}

/** Two records of model use on one experiment (its proposal and its review), as one. */
export function addProposalUsage(a: ProposalUsage, b: ProposalUsage): ProposalUsage {
  return { ...addUsage(a, b), model: a.model === b.model ? a.model : `${a.model}, ${b.model}`, calls: a.calls + b.calls };
}

/** "3 calls, 12.4k tokens, $0.04": calls (named `noun`), tokens both ways, dollars when priced. */
export function usageText(u: UsageTotal, noun = 'call'): string {
  const tokens = u.inputTokens + u.outputTokens;
  const shown = tokens < 1000 ? String(tokens) : `${(tokens / 1000).toFixed(1)}k`;
  const cost = u.costUsd > 0 ? `, ${usd(u.costUsd)}` : '';
  return `${u.calls} ${noun}${u.calls === 1 ? '' : 's'}, ${shown} tokens${cost}`;
}

/** Cents for ordinary costs; a fraction of a cent still shows as spent, not as $0.00. */
export function usd(x: number): string {
  return x > 0 && x < 0.01 ? '<$0.01' : `$${x.toFixed(2)}`;
}
