// `status`, `log`, `show ID`, `apply ID`, `accept ID` and `stop`: read the journal (apply changes
// the working tree only after every check passed; accept appends one record to the journal).
import * as path from 'node:path';
import { RatchetError } from '../../engine/errors';
import { totalUsage, usageText } from '../../engine/llm/usage';
import { findRepoRoot } from '../../engine/git/repo';
import { acceptExperiment, applyExperiment, cumulativePatch, findExperiment, heldForReview, resolveSearch, viewSearch, type SearchView } from '../../engine/inspect';
import { listSearches, readLock, searchDir } from '../../engine/journal/store';
import { metricProvenance, runProvenance, selfReportedNote } from '../../engine/provenance';
import type { ExperimentRecord } from '../../engine/types';
import { parse } from '../args';
import { acceptedText, fmtDelta, fmtDuration, fmtMetric, fmtThread, provenanceMark, table, verdictReason, verdictWord } from '../format';
import type { Io } from '../io';

export const inspectHelp = `ratchet status                   the searches in this repository and where they stand
ratchet log [--search ID]        every experiment: id, parent, verdict, metric ± spread, hypothesis
ratchet show ID [--search ID]    an experiment's patch, runs, audit findings and verdict
ratchet apply ID [--search ID]   apply a kept experiment's change to your working tree (refuses on conflicts)
ratchet accept ID [--search ID] [--reason TEXT]
                                 accept a result held for review (suspect) as a real gain, after
                                 reviewing it with \`ratchet show ID\`; it then counts as kept
ratchet stop [FILE]              stop running searches (all, or the one on FILE)`;

async function repo(io: Io): Promise<string> {
  return findRepoRoot(io.cwd);
}

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  parse(argv, {}, 'status');
  const root = await repo(io);
  const searches = listSearches(root);
  if (searches.length === 0) {
    io.out('No searches yet. Start one with `ratchet search FILE`.');
    return 0;
  }
  const rows = searches.map((s) => {
    const v = viewSearch(root, s.id);
    const done = v.experiments.filter((e) => e.id !== 'e0').length;
    const held = heldForReview(v).length;
    const state = v.running ? `running (pid ${v.running.pid})` : `stopped: ${v.stoppedBecause ?? 'interrupted (resume with --resume)'}`;
    const base = v.experiments.find((e) => e.id === 'e0');
    const best = v.best && base ? `${v.best.id} ${fmtMetric(v.best)}${v.best.id !== 'e0' ? ` ${fmtDelta(v.best, base)}` : ''}${provenanceMark(metricProvenance(v.best, v.settings.task))}` : '—';
    return [s.id, s.file, held > 0 ? `${done} (${held} held for review)` : String(done), `${v.metric.name || '?'}: ${best}`, state];
  });
  io.out(table(['search', 'file', 'experiments', 'best', 'state'], rows, io.stdout.columns || 160));
  return 0;
}

export async function logCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { search: { type: 'string' } }, 'log');
  const root = await repo(io);
  const v = resolveSearch(root, values.search);
  io.out(`Search ${v.settings.id} on ${v.settings.file} · metric ${v.metric.name} (${v.metric.direction} is better)`);
  // Said once; the rows it concerns are marked with *.
  const note = selfReportedNote(v.metric.name, v.experiments, v.settings.task);
  if (note) io.out(`${note} (marked *)`);
  const byId = new Map(v.experiments.map((e) => [e.id, e]));
  // Searches with threads of research get a column for them.
  const threaded = v.experiments.some((e) => e.thread !== 'main');
  const rows = v.experiments.map((e) => [
    (v.best?.id === e.id ? '★' : ' ') + e.id,
    e.parent ?? '',
    ...(threaded ? [fmtThread(e)] : []),
    verdictWord(e),
    fmtMetric(e) + (metricProvenance(e, v.settings.task) === 'self-reported' ? ' *' : ''),
    fmtDelta(e, e.parent ? byId.get(e.parent) : undefined),
    logText(e),
  ]);
  const header = ['id', 'parent', ...(threaded ? ['thread'] : []), 'verdict', `${v.metric.name} ± spread (n)`, 'Δ parent', 'hypothesis'];
  io.out(table(header, rows, io.stdout.columns || 160));
  const usage = totalUsage(v.experiments);
  if (usage.calls > 0) io.out(`model: ${usageText(usage)}`);
  const held = heldForReview(v);
  if (held.length > 0) io.out(`held for review: ${held.map((e) => e.id).join(', ')} — review with \`ratchet show ${held[0]!.id}\`, accept with \`ratchet accept ${held[0]!.id}\``);
  return 0;
}

/** The last column of `log`: the hypothesis, and why when it was not simply kept. */
function logText(e: ExperimentRecord): string {
  if (e.verdict.kind === 'baseline') return e.hypothesis;
  if (e.verdict.kind === 'kept') return e.accepted ? `${e.hypothesis} — ${acceptedText(e.accepted)}` : e.hypothesis;
  // How to accept it is said once, under the table.
  if (e.verdict.kind === 'suspect') return `${e.hypothesis} — held for review: ${e.verdict.reason}`;
  return `${e.hypothesis} — ${verdictReason(e)}`;
}

export async function showCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { search: { type: 'string' }, cumulative: { type: 'boolean' } }, 'show');
  if (positionals.length !== 1) throw new RatchetError('show needs an experiment id', 'ratchet show e12');
  const root = await repo(io);
  const v = resolveSearch(root, values.search);
  const e = findExperiment(v, positionals[0]!);
  const parent = e.parent ? v.experiments.find((x) => x.id === e.parent) : undefined;
  const task = v.settings.task;
  io.out(`${e.id} · ${verdictWord(e)} · ${e.hypothesis}`);
  io.out(`  parent ${e.parent ?? '—'} · proposer ${e.proposer} · ${v.metric.name} ${fmtMetric(e)} ${fmtDelta(e, parent)}${provenanceMark(metricProvenance(e, task))}`.trimEnd());
  if (e.verdict.kind === 'suspect') {
    io.out(`  verdict: suspect — held for review: ${e.verdict.reason}`);
  } else {
    io.out(`  verdict: ${verdictReason(e)}`);
  }
  if (e.review) io.out(`  model review (${e.review.model}): ${e.review.verdict} — ${e.review.reason}`);
  if (e.verdict.kind === 'suspect') io.out(`  not kept until you accept it: accept it with \`ratchet accept ${e.id}\` after reviewing the patch below`);
  if (e.thread !== 'main') io.out(`  thread ${fmtThread(e)}${e.intent && e.intent !== 'combine' && e.intent !== 'debug' ? ` · ${e.intent}` : ''}`);
  if (e.usage) io.out(`  model ${e.usage.model}: ${usageText(e.usage)}`);
  for (const r of e.runs) {
    const source = runProvenance(r, task);
    const value = r.value !== undefined ? `${r.value} (${source === 'self-reported' ? 'self-reported: printed by the script' : source === 'evaluator' ? 'from the evaluation function' : 'measured by the harness'})` : r.error ?? r.outcome;
    io.out(`  run seed ${r.seed}: ${value} · ${fmtDuration(r.durationMs)} · ${r.slot} · log ${path.join(searchDir(root, v.settings.id), r.log)}`);
  }
  for (const a of e.audit) {
    io.out(`  audit ${a.severity}: ${a.message}${a.file ? ` (${a.file}${a.line ? `:${a.line}` : ''})` : ''}${a.evidence ? ` — ${a.evidence}` : ''}`);
  }
  if (e.commit) io.out(`  commit ${e.commit} (refs/ratchet/${v.settings.id}/${e.id})`);
  const patch = values.cumulative && e.commit ? await cumulativePatch(root, v, e) : e.patch;
  if (patch) {
    io.out(values.cumulative ? '\nChange from the baseline:' : `\nPatch against ${e.parent}:`);
    io.out(colorDiff(patch.trimEnd(), io.tty));
  }
  return 0;
}

function colorDiff(patch: string, tty: boolean): string {
  if (!tty) return patch;
  return patch
    .split('\n')
    .map((l) => (l.startsWith('+') && !l.startsWith('+++') ? `\x1b[32m${l}\x1b[0m` : l.startsWith('-') && !l.startsWith('---') ? `\x1b[31m${l}\x1b[0m` : l))
    .join('\n');
}

export async function applyCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { search: { type: 'string' } }, 'apply');
  if (positionals.length !== 1) throw new RatchetError('apply needs an experiment id', 'ratchet apply e12');
  const root = await repo(io);
  const v: SearchView = resolveSearch(root, values.search);
  const e = findExperiment(v, positionals[0]!);
  const patch = await applyExperiment(root, v, e);
  const files = [...new Set([...patch.matchAll(/^\+\+\+ b\/(.+)$/gm)].map((m) => m[1]))];
  io.out(`Applied ${e.id} (${e.hypothesis}) to ${files.join(', ')}. Review with \`git diff\`; nothing was committed.`);
  return 0;
}

export async function acceptCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { search: { type: 'string' }, reason: { type: 'string' } }, 'accept');
  if (positionals.length !== 1) throw new RatchetError('accept needs an experiment id', 'ratchet accept e7 --reason "the warm-up explains the gain"');
  const root = await repo(io);
  const v = resolveSearch(root, values.search);
  const { experiment: e, view: after, isBest } = acceptExperiment(root, v, positionals[0]!, values.reason ?? '', 'cli');
  const parent = e.parent ? after.experiments.find((x) => x.id === e.parent) : undefined;
  const value = `${after.metric.name} ${fmtMetric(e)}${parent ? ` ${fmtDelta(e, parent)} vs ${parent.id}` : ''}${provenanceMark(metricProvenance(e, after.settings.task))}`;
  io.out(`Accepted ${e.id} (${e.hypothesis}): kept, ${value}.`);
  if (isBest) io.out(`It is now the best. Apply it to your working tree with \`ratchet apply ${e.id}\`.`);
  else if (after.best) io.out(`The best is still ${after.best.id} (${after.metric.name} ${fmtMetric(after.best)}).`);
  return 0;
}

export async function stopCommand(argv: string[], io: Io): Promise<number> {
  const { positionals } = parse(argv, {}, 'stop');
  const root = await repo(io);
  const file = positionals[0] ? path.relative(root, path.resolve(io.cwd, positionals[0])).split(path.sep).join('/') : undefined;
  const running = listSearches(root)
    .filter((s) => !file || s.file === file)
    .map((s) => ({ s, lock: readLock(root, s.file) }))
    .filter((x) => x.lock && x.lock.searchId === x.s.id);
  if (running.length === 0) {
    io.out(file ? `No search is running on ${file}.` : 'No search is running.');
    return 0;
  }
  for (const { s, lock } of running) {
    process.kill(lock!.pid, 'SIGINT');
    io.out(`Stopping ${s.id} (pid ${lock!.pid})…`);
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && running.some(({ s }) => readLock(root, s.file)?.searchId === s.id)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const left = running.filter(({ s }) => readLock(root, s.file)?.searchId === s.id);
  if (left.length > 0) {
    throw new RatchetError(`${left.map((x) => x.s.id).join(', ')} did not stop within 60 s`, 'it may be waiting for a run to exit; try again, or kill the process');
  }
  io.out('Stopped. Running experiments were recorded as cancelled; continue with `ratchet search --resume`.');
  return 0;
}
