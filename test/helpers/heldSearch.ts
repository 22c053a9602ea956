// A finished search written as the engine writes one: real commits for each experiment and a
// journal from the real JournalWriter, holding a kept result (e1), a result held for review (e2)
// and a discarded one (e3). Building it takes no runs, so accepting can be tested in milliseconds.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { JournalWriter } from '../../src/engine/journal/journal';
import { journalPath, writeSettings, type SearchSettings } from '../../src/engine/journal/store';
import type { ExperimentRecord, RunRecord, Task } from '../../src/engine/types';
import { QUADRATIC_SCRIPT } from '../helpers';

export const HELD_SEARCH_ID = 'train.py-20260101-000000';
export const SUSPECT_REASON = 'a gain of 0.15 is 12 times the largest kept so far';

/** Commits train.py with LR set to `lr` on top of `parent`, without touching HEAD or the working tree. */
function commitLr(repo: string, parent: string, lr: string): string {
  const env = { ...process.env, GIT_INDEX_FILE: path.join(repo, '.git', 'ratchet-test-index') };
  const run = (args: string[], input?: string) => execFileSync('git', args, { cwd: repo, env, input, encoding: 'utf8' }).trim();
  run(['read-tree', parent]);
  const blob = run(['hash-object', '-w', '--stdin'], QUADRATIC_SCRIPT.replace('LR = 0.5', `LR = ${lr}`));
  run(['update-index', '--cacheinfo', `100644,${blob},train.py`]);
  const tree = run(['write-tree']);
  return run(['-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit-tree', tree, '-p', parent, '-m', `LR ${lr}`]);
}

const lrDiff = (from: string, to: string) =>
  `--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n import os, random, time\n-LR = ${from}\n+LR = ${to}\n SLEEP = 0.0\n`;

/**
 * Writes the search into `repo` (a git repository whose HEAD holds QUADRATIC_SCRIPT as train.py).
 * `evaluate` names an evaluation function: the runs' values then come from it; without it they
 * are self-reported, as a task with no evaluation function records them.
 */
export function writeHeldSearch(repo: string, opts: { evaluate?: string } = {}): SearchSettings {
  const base = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  const c1 = commitLr(repo, base, '0.2');
  const c2 = commitLr(repo, c1, '0.1');
  const c3 = commitLr(repo, c1, '0.3');
  const task: Task = {
    name: 'train',
    repoRoot: repo,
    editable: ['train.py'],
    run: 'python3 train.py',
    cwd: '',
    metric: { name: 'val_loss', direction: 'lower' },
    budgetSeconds: 60,
    protected: [],
    repeats: 2,
    ...(opts.evaluate ? { evaluate: opts.evaluate } : {}),
  };
  const settings: SearchSettings = { id: HELD_SEARCH_ID, file: 'train.py', task, proposer: 'replay', parallel: 1, seed: 0, baselineCommit: base, createdAt: '2026-01-01T00:00:00.000Z' };
  writeSettings(repo, settings);
  const source = opts.evaluate ? ('evaluator' as const) : undefined;
  const run = (seed: number, value: number): RunRecord => ({
    seed,
    value,
    metrics: { val_loss: value },
    exitCode: 0,
    outcome: 'ok',
    durationMs: 1200,
    log: `logs/run-${seed}-${value}.log`,
    slot: 'local-0',
    ...(source ? { source } : {}),
  });
  const exp = (id: string, over: Partial<ExperimentRecord>): ExperimentRecord => ({
    id,
    parent: 'e0',
    thread: 'main',
    hypothesis: `hypothesis ${id}`,
    proposer: 'replay',
    patch: '',
    runs: [],
    audit: [],
    verdict: { kind: 'baseline' },
    startedAt: '2026-01-01T00:00:01.000Z',
    finishedAt: '2026-01-01T00:00:02.000Z',
    ...over,
  });
  const experiments: ExperimentRecord[] = [
    exp('e0', { parent: undefined, hypothesis: 'baseline', commit: base, runs: [run(0, 0.16), run(1, 0.1612)], mean: 0.1606, spread: 0.0008 }),
    exp('e1', { hypothesis: 'LR 0.5 -> 0.2', patch: lrDiff('0.5', '0.2'), commit: c1, runs: [run(0, 0.01)], mean: 0.01, spread: 0, verdict: { kind: 'kept', improvement: 0.1506, threshold: 0.002 } }),
    exp('e2', {
      parent: 'e1',
      hypothesis: 'LR 0.2 -> 0.1',
      patch: lrDiff('0.2', '0.1'),
      commit: c2,
      runs: [run(0, 0.0001)],
      mean: 0.0001,
      spread: 0,
      verdict: { kind: 'suspect', reason: SUSPECT_REASON, improvement: 0.0099, threshold: 0.002 },
      review: { model: 'test:auditor', verdict: 'flag', reason: 'the loss is lower than the data allows' },
    }),
    exp('e3', { parent: 'e1', hypothesis: 'LR 0.2 -> 0.3', patch: lrDiff('0.2', '0.3'), commit: c3, runs: [run(0, 0.04)], mean: 0.04, spread: 0, verdict: { kind: 'discarded', reason: 'not better than e1' } }),
  ];
  const journal = new JournalWriter(journalPath(repo, HELD_SEARCH_ID));
  try {
    journal.append({ type: 'search-started', at: '2026-01-01T00:00:00.000Z', pid: 1 });
    for (const e of experiments) journal.append({ type: 'experiment', at: e.finishedAt, experiment: e });
    journal.append({ type: 'search-stopped', at: '2026-01-01T00:01:00.000Z', reason: 'the proposer has nothing more to try' });
  } finally {
    journal.close();
  }
  for (const e of experiments) for (const r of e.runs) writeFileSync(path.join(repo, '.ratchet', 'searches', HELD_SEARCH_ID, r.log), `val_loss: ${r.value}\n`);
  return settings;
}
