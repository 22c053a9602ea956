// Where an experiment's metric came from, in the one word every view shows: captured from the
// task's protected evaluation function, measured by the harness, or self-reported (what the
// script printed). A result is only as trustworthy as its weakest run.
import type { ExperimentRecord, RunRecord, Task } from './types';

export type Provenance = 'evaluator' | 'harness' | 'self-reported';

/**
 * The provenance of an experiment's metric; undefined when no run produced a value. A run with no
 * recorded source is self-reported, except in a kernel task, whose metric the harness has always
 * measured (records written before sources were kept have none).
 */
export function metricProvenance(e: ExperimentRecord, task?: Pick<Task, 'kernel'>): Provenance | undefined {
  const each = e.runs.map((r) => runProvenance(r, task)).filter((p) => p !== undefined);
  if (each.length === 0) return undefined;
  if (each.includes('self-reported')) return 'self-reported';
  return each.every((p) => p === 'evaluator') ? 'evaluator' : 'harness';
}

/** The provenance of one run's value; undefined when it has none. */
export function runProvenance(r: RunRecord, task?: Pick<Task, 'kernel'>): Provenance | undefined {
  if (r.value === undefined) return undefined;
  const source = r.source ?? (task?.kernel ? 'harness' : 'output');
  return source === 'output' ? 'self-reported' : source;
}

export function isSelfReported(e: ExperimentRecord, task?: Pick<Task, 'kernel'>): boolean {
  return metricProvenance(e, task) === 'self-reported';
}

/**
 * Why a search's values are self-reported, in one sentence for the top of a listing; undefined
 * when none of them is.
 */
export function selfReportedNote(metric: string, experiments: readonly ExperimentRecord[], task: Pick<Task, 'kernel' | 'evaluate'>): string | undefined {
  const self = experiments.filter((e) => isSelfReported(e, task));
  if (self.length === 0) return undefined;
  if (!task.evaluate) {
    return `${metric} is self-reported: the task names no evaluation function, so the value is what the script printed — see README`;
  }
  const all = experiments.filter((e) => metricProvenance(e, task) !== undefined).length;
  const which = self.length === all ? `${metric} is` : `${self.length} of ${all} results are`;
  return `${which} self-reported: not captured from the evaluation function ${task.evaluate}, so the value is what the script printed — see README`;
}
