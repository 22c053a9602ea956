// Read-only views of a workspace's searches for `status`, `log`, `show` and `apply`: nothing here
// takes a lock or writes, so these work while a search is running.
import { RatchetError } from './errors';
import { diffCommits, applyToWorkingTree } from './git/repo';
import { experimentsOf, readJournal } from './journal/journal';
import { journalPath, listSearches, readLock, readSettings, type SearchSettings } from './journal/store';
import type { ExperimentRecord } from './types';
import { bestExperiment } from './search/decide';

export interface SearchView {
  settings: SearchSettings;
  experiments: ExperimentRecord[];
  metric: { name: string; direction: 'lower' | 'higher' };
  running: { pid: number } | undefined;
  stoppedBecause?: string;
  best?: ExperimentRecord;
}

export function viewSearch(repoRoot: string, id: string): SearchView {
  const settings = readSettings(repoRoot, id);
  const { records } = readJournal(journalPath(repoRoot, id));
  const experiments = experimentsOf(records);
  let metric = settings.task.metric;
  let stoppedBecause: string | undefined;
  for (const r of records) {
    if (r.type === 'metric-chosen') metric = { name: r.name, direction: r.direction };
    if (r.type === 'search-stopped') stoppedBecause = r.reason;
    if (r.type === 'search-started') stoppedBecause = undefined;
  }
  const lock = readLock(repoRoot, settings.file);
  const running = lock && lock.searchId === id ? { pid: lock.pid } : undefined;
  return { settings, experiments, metric, running, stoppedBecause, best: bestExperiment(experiments, metric.direction) };
}

/** The search a command means: the one named, else the latest (on `file`, when given). */
export function resolveSearch(repoRoot: string, id?: string, file?: string): SearchView {
  if (id) return viewSearch(repoRoot, id);
  const all = listSearches(repoRoot).filter((s) => !file || s.file === file);
  const latest = all[all.length - 1];
  if (!latest) throw new RatchetError('no searches in this repository yet', 'start one with `ratchet search FILE`');
  return viewSearch(repoRoot, latest.id);
}

export function findExperiment(view: SearchView, id: string): ExperimentRecord {
  const e = view.experiments.find((x) => x.id === id || x.id === `e${id}`);
  if (!e) throw new RatchetError(`no experiment ${id} in search ${view.settings.id}`, 'list them with `ratchet log`');
  return e;
}

/** The change from the search's baseline to an experiment, over the task's editable files. */
export async function cumulativePatch(repoRoot: string, view: SearchView, e: ExperimentRecord): Promise<string> {
  if (!e.commit) throw new RatchetError(`experiment ${e.id} has no commit (its patch was rejected)`, 'pick a kept experiment from `ratchet log`');
  return diffCommits(repoRoot, view.settings.baselineCommit, e.commit, view.settings.task.editable);
}

/** Applies a kept experiment's change (from the baseline) to the user's working tree. */
export async function applyExperiment(repoRoot: string, view: SearchView, e: ExperimentRecord): Promise<string> {
  if (e.verdict.kind !== 'kept') {
    throw new RatchetError(
      `experiment ${e.id} was not kept (${e.verdict.kind}); only verified improvements are applied`,
      view.best && view.best.id !== 'e0' ? `the best is ${view.best.id}: \`ratchet apply ${view.best.id}\`` : 'wait for a kept experiment',
    );
  }
  const patch = await cumulativePatch(repoRoot, view, e);
  if (patch.trim() === '') throw new RatchetError(`experiment ${e.id} changes nothing relative to the baseline`);
  await applyToWorkingTree(repoRoot, patch);
  return patch;
}
