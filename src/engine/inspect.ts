// Views of a workspace's searches for `status`, `log`, `show`, `apply` and `accept`: nothing here
// takes a lock, so these work while a search is running. Only `accept` writes, one whole journal
// line appended, which a running search reads back.
import { RatchetError } from './errors';
import { diffCommits, applyToWorkingTree } from './git/repo';
import { experimentsOf, JournalWriter, readJournal } from './journal/journal';
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
  if (e.verdict.kind === 'suspect') {
    throw new RatchetError(
      `experiment ${e.id} is held for review: ${e.verdict.reason}`,
      `review it with \`ratchet show ${e.id}\`; if the gain is real, \`ratchet accept ${e.id}\`, then apply it`,
    );
  }
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

/** The search's results held for review (suspect), in order. */
export function heldForReview(view: SearchView): ExperimentRecord[] {
  return view.experiments.filter((e) => e.verdict.kind === 'suspect');
}

export interface Accepted {
  /** The experiment as it now reads: kept, with `accepted` set. */
  experiment: ExperimentRecord;
  /** The search as it reads after the acceptance. */
  view: SearchView;
  /** Whether the accepted result is now the search's best. */
  isBest: boolean;
}

/**
 * Accepts a suspect result a person reviewed: one `accepted` record appended to the journal (a
 * running search appends with O_APPEND too, so whole lines never interleave), after which it
 * counts as kept everywhere. Anything but a suspect result is refused with what to do instead.
 */
export function acceptExperiment(repoRoot: string, view: SearchView, id: string, reason: string, by: 'cli' | 'editor'): Accepted {
  const e = findExperiment(view, id);
  if (e.verdict.kind !== 'suspect') throw notAcceptable(view, e);
  const journal = new JournalWriter(journalPath(repoRoot, view.settings.id));
  try {
    journal.append({ type: 'accepted', at: new Date().toISOString(), id: e.id, by, reason: reason.trim() });
  } finally {
    journal.close();
  }
  const after = viewSearch(repoRoot, view.settings.id);
  const experiment = findExperiment(after, e.id);
  return { experiment, view: after, isBest: after.best?.id === e.id };
}

function notAcceptable(view: SearchView, e: ExperimentRecord): RatchetError {
  const v = e.verdict;
  if (v.kind === 'kept') {
    const what = e.accepted ? `was already accepted (${e.accepted.by}, ${e.accepted.at})` : 'is already kept: it beat its parent beyond the noise';
    return new RatchetError(`experiment ${e.id} ${what}`, `apply it with \`ratchet apply ${e.id}\``);
  }
  const why = 'reason' in v ? `${v.kind}: ${v.reason}` : v.kind;
  const held = heldForReview(view).map((x) => x.id);
  const hint =
    v.kind === 'flagged'
      ? `a suspected reward hack is never kept; read its audit with \`ratchet show ${e.id}\``
      : held.length > 0
        ? `held for review in this search: ${held.join(', ')} (see \`ratchet show ${held[0]}\`)`
        : 'no result of this search is held for review; `ratchet log` lists the verdicts';
  return new RatchetError(`experiment ${e.id} was not held for review (${why}); only a suspect result can be accepted`, hint);
}
