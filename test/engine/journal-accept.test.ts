// Accepting a result held for review: the journal's `accepted` record, how experimentsOf reads it,
// the engine function the CLI and the editor share, and the provenance every view shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptExperiment, viewSearch } from '../../src/engine/inspect';
import { experimentsOf, readJournal, type JournalRecord } from '../../src/engine/journal/journal';
import { journalPath } from '../../src/engine/journal/store';
import { metricProvenance, selfReportedNote } from '../../src/engine/provenance';
import type { ExperimentRecord, RunRecord } from '../../src/engine/types';
import { makeRepo, QUADRATIC_SCRIPT } from '../helpers';
import { HELD_SEARCH_ID, writeHeldSearch } from '../helpers/heldSearch';

const run = (over: Partial<RunRecord>): RunRecord => ({ seed: 0, value: 1, metrics: {}, exitCode: 0, outcome: 'ok', durationMs: 1, log: 'l', slot: 's', ...over });
const exp = (id: string, verdict: ExperimentRecord['verdict'], runs: RunRecord[] = [run({})]): ExperimentRecord => ({
  id,
  parent: 'e0',
  thread: 'main',
  hypothesis: id,
  proposer: 'tune',
  patch: '',
  runs,
  mean: 1,
  audit: [],
  verdict,
  startedAt: '',
  finishedAt: '',
});
const suspect: ExperimentRecord['verdict'] = { kind: 'suspect', reason: 'too good', improvement: 0.5, threshold: 0.1 };
const at = '2026-01-01T00:00:00.000Z';
const acceptRec = (id: string, reason = 'checked the patch'): JournalRecord => ({ type: 'accepted', at, id, by: 'editor', reason });

test('an accepted suspect experiment reads as kept, with its gain, who accepted it and why', () => {
  const records: JournalRecord[] = [{ type: 'experiment', at, experiment: exp('e1', suspect) }, acceptRec('e1')];
  const [e1] = experimentsOf(records);
  assert.deepEqual(e1!.verdict, { kind: 'kept', improvement: 0.5, threshold: 0.1 });
  assert.deepEqual(e1!.accepted, { at, by: 'editor', reason: 'checked the patch' });
});

test('an acceptance holds when the experiment is recorded again as suspect after it', () => {
  const records: JournalRecord[] = [{ type: 'experiment', at, experiment: exp('e1', suspect) }, acceptRec('e1'), { type: 'experiment', at, experiment: exp('e1', suspect) }];
  assert.equal(experimentsOf(records)[0]!.verdict.kind, 'kept');
});

test('an acceptance changes nothing but a suspect verdict', () => {
  const records: JournalRecord[] = [
    { type: 'experiment', at, experiment: exp('e1', { kind: 'discarded', reason: 'no better' }) },
    { type: 'experiment', at, experiment: exp('e2', { kind: 'flagged', reason: 'prints a literal' }) },
    acceptRec('e1'),
    acceptRec('e2'),
    acceptRec('e9'),
  ];
  const out = experimentsOf(records);
  assert.deepEqual(out.map((e) => e.verdict.kind), ['discarded', 'flagged']);
  assert.ok(out.every((e) => e.accepted === undefined));
});

test('acceptExperiment appends one record, and the search\'s best follows', (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);
  const view = viewSearch(repo, HELD_SEARCH_ID);
  assert.equal(view.best?.id, 'e1', 'a suspect result is never the best before it is accepted');
  const before = readJournal(journalPath(repo, HELD_SEARCH_ID)).records.length;
  const r = acceptExperiment(repo, view, '2', '  the optimum  ', 'editor');
  assert.equal(r.experiment.id, 'e2');
  assert.equal(r.experiment.verdict.kind, 'kept');
  assert.equal(r.isBest, true);
  assert.equal(r.view.best?.id, 'e2');
  const records = readJournal(journalPath(repo, HELD_SEARCH_ID)).records;
  assert.equal(records.length, before + 1);
  assert.deepEqual({ ...records[records.length - 1]!, at: '' }, { type: 'accepted', at: '', id: 'e2', by: 'editor', reason: 'the optimum' });
  assert.throws(() => acceptExperiment(repo, r.view, 'e2', '', 'editor'), /e2 was already accepted \(editor, /);
});

test('a flagged result cannot be accepted: the error says a hack is never kept', (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeHeldSearch(repo);
  const view = viewSearch(repo, HELD_SEARCH_ID);
  const flagged = { ...view, experiments: view.experiments.map((e) => (e.id === 'e3' ? { ...e, verdict: { kind: 'flagged' as const, reason: 'prints a literal value' } } : e)) };
  assert.throws(
    () => acceptExperiment(repo, flagged, 'e3', '', 'cli'),
    (e: Error & { hint?: string }) => /e3 was not held for review \(flagged: prints a literal value\)/.test(e.message) && /a suspected reward hack is never kept/.test(e.hint ?? ''),
  );
});

test('provenance: the weakest run decides; no value, no provenance', () => {
  assert.equal(metricProvenance(exp('e1', suspect, [run({ source: 'evaluator' }), run({ source: 'evaluator' })])), 'evaluator');
  assert.equal(metricProvenance(exp('e1', suspect, [run({ source: 'evaluator' }), run({ source: 'output' })])), 'self-reported');
  assert.equal(metricProvenance(exp('e1', suspect, [run({})])), 'self-reported', 'no source recorded: printed');
  assert.equal(metricProvenance(exp('e1', suspect, [run({ source: 'harness' })])), 'harness');
  assert.equal(metricProvenance(exp('e1', suspect, [run({})]), { kernel: { task: '.', candidate: 'k.py' } }), 'harness', 'a kernel task is measured by the harness');
  assert.equal(metricProvenance(exp('e1', suspect, [run({ value: undefined, outcome: 'failed' })])), undefined);
});

test('the self-reported note says why, once, and only when a value is self-reported', () => {
  const printed = [exp('e0', { kind: 'baseline' }), exp('e1', suspect)];
  assert.equal(selfReportedNote('val_bpb', printed, {}), 'val_bpb is self-reported: the task names no evaluation function, so the value is what the script printed — see README');
  const mixed = [exp('e0', { kind: 'baseline' }, [run({ source: 'evaluator' })]), exp('e1', suspect)];
  assert.equal(selfReportedNote('val_bpb', mixed, { evaluate: 'prepare.py:evaluate_bpb' }), '1 of 2 results are self-reported: not captured from the evaluation function prepare.py:evaluate_bpb, so the value is what the script printed — see README');
  assert.equal(selfReportedNote('val_bpb', [mixed[0]!], { evaluate: 'prepare.py:evaluate_bpb' }), undefined);
});
