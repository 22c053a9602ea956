// The research loop: baseline → (propose → check → commit → run → audit → decide)×N, with up to one
// experiment per runner slot at a time. Everything it learns goes to the journal first; the
// in-memory state is only ever a view of what the journal already holds.
import { EventEmitter } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import { auditPatch } from '../audit/checks';
import { commitPatch } from '../git/commit';
import { GitError, pruneWorktrees, readFileAt, updateRef } from '../git/repo';
import { experimentsOf, JournalWriter, readJournal, type JournalRecord } from '../journal/journal';
import { journalPath, ratchetDir, searchDir, type SearchSettings } from '../journal/store';
import { checkPatch, PatchRejected } from '../patch/validate';
import { mergeExperiments } from '../git/merge';
import type { ExperimentRecord, ExperimentReviewer, MetricSource, Proposal, ProposalIntent, Proposer, Runner, RunRecord, RunResult, Slot, Task, ThreadInfo, Verdict } from '../types';
import { mean, seededRandom, stdev } from '../util/stats';
import { bestExperiment, isBetter } from './decide';
import { crashLine, verdictOf, wantsAnotherRun, type VerdictContext } from './verdict';
import { inferMetricName, parseMetrics } from './metric';
import { choose, type Choice } from './policy';
import { kernelMetricFromRuns } from '../task/kernel';
import { trainContract } from '../task/evaluation';
import { addProposalUsage } from '../llm/usage';
import type { Secrets } from '../secrets/secrets';

export interface SearchOptions {
  repoRoot: string;
  settings: SearchSettings;
  proposer: Proposer;
  runner: Runner;
  /** Stop starting experiments after this many (this session's, not counting the baseline). */
  maxExperiments?: number;
  /** Stop starting experiments after this moment (ms since the epoch). */
  deadline?: number;
  /** Most runs (seeds) one candidate gets when its result is within the noise. */
  maxSeeds?: number;
  /** Threads of research open at once, for proposers that follow the policy's intents (default 3). */
  threads?: number;
  /** Ask for proposals while runs execute, so slots do not wait for the proposer (default on). */
  pipelining?: boolean;
  /** A second auditor (a language model) asked before an experiment is kept. */
  reviewer?: ExperimentReviewer;
  /** Variables the runs must not see, and values blanked from run output and the journal. */
  secrets?: Secrets;
  signal: AbortSignal;
}

export type SearchEvent =
  | { type: 'phase'; phase: 'setup' | 'baseline' | 'search' | 'stopping' }
  | { type: 'experiment-started'; id: string; parent?: string; hypothesis: string }
  | { type: 'run-started'; id: string; seed: number; slot: string }
  | { type: 'run-finished'; id: string; run: RunRecord }
  | { type: 'experiment-finished'; experiment: ExperimentRecord; isBest: boolean }
  | { type: 'metric-chosen'; name: string; direction: 'lower' | 'higher' };

export interface SearchSummary {
  searchId: string;
  baseline: ExperimentRecord;
  best: ExperimentRecord;
  experiments: ExperimentRecord[];
  noise: number;
  stoppedBecause: string;
}

const BASELINE_ID = 'e0';
const MAX_PROPOSER_FAILURES_IN_A_ROW = 5;
const DEFAULT_THREADS = 3;
/** Ask for a proposal this many proposal-latencies before a slot is expected to free up. */
const PROPOSAL_LEAD_FACTOR = 1.5;
/** Below this fraction of a run's time, a proposal's latency is not worth hiding. */
const WORTH_PIPELINING = 0.02;

/** A proposal on its way: chosen by the policy, then made, then run. */
interface Prepared {
  id: string;
  parent: ExperimentRecord;
  thread: ThreadInfo;
  intent: ProposalIntent['kind'];
  other?: string;
  proposal?: Proposal;
}

export class Search extends EventEmitter {
  private readonly task: Task;
  private readonly journal: JournalWriter;
  private readonly finished: ExperimentRecord[] = [];
  /** Proposals handed out and not finished: being made, waiting for a slot, or running. */
  private readonly pending = new Map<string, Prepared>();
  /** Proposals made and waiting for a free slot, oldest first. */
  private readonly ready: Prepared[] = [];
  private generating = 0;
  private baselineDone = true;
  private readonly slotCount: number;
  private readonly freeSlots: Slot[];
  /** When each busy slot's current run started, to foresee when it frees up. */
  private readonly runStartedAt = new Map<string, number>();
  private readonly runDurations: number[] = [];
  /** How long a proposal takes, smoothed (0 until the first one). */
  private proposalLatency = 0;
  private notes = '';
  /** Where each run's metrics came from, until its metric is read (fillValue). */
  private readonly sources = new WeakMap<RunRecord, Record<string, MetricSource>>();
  /** Wakes the loop when a run starts (it may then ask for the next proposal earlier). */
  private onRunStarted: () => void = () => undefined;
  private best: ExperimentRecord | undefined;
  private noise = 0;
  private nextNumber = 1;
  private startedThisSession = 0;
  private exhausted = false;
  private proposerFailures = 0;
  private stopReason = '';
  /** Aborted by the user's signal, or by a fatal error so that no run outlives the search. */
  private readonly stopAll = new AbortController();
  private readonly signal: AbortSignal;

  constructor(private readonly opts: SearchOptions) {
    super();
    // The task is copied: an inferred metric name is filled in once the baseline has run.
    this.task = { ...opts.settings.task, metric: { ...opts.settings.task.metric } };
    this.freeSlots = [...opts.runner.slots()];
    this.slotCount = this.freeSlots.length;
    this.signal = AbortSignal.any([opts.signal, this.stopAll.signal]);
    this.journal = new JournalWriter(journalPath(opts.repoRoot, opts.settings.id), opts.secrets?.redact);
  }

  private get id(): string {
    return this.opts.settings.id;
  }

  private emitEvent(e: SearchEvent): void {
    this.emit('event', e);
  }

  private record(r: JournalRecord): void {
    this.journal.append(r);
  }

  async run(): Promise<SearchSummary> {
    try {
      this.restore();
      this.record({ type: 'search-started', at: now(), pid: process.pid });
      await this.cleanWorktrees();
      let baseline: Promise<void> | undefined;
      if (!this.finished.some((e) => e.id === BASELINE_ID)) {
        if (this.task.setup) await this.runSetup();
        baseline = this.runBaseline();
        // A slow proposer starts thinking while the baseline runs; the others wait for it.
        if (!this.proposesAhead()) {
          await baseline;
          baseline = undefined;
        } else {
          this.best = this.provisionalBaseline();
          baseline.catch(() => undefined); // reported through the loop
        }
      }
      if (!baseline) this.emitEvent({ type: 'phase', phase: 'search' });
      await this.loop(baseline);
      const reason = this.opts.signal.aborted ? 'stopped by the user' : this.stopReason || 'done';
      this.record({ type: 'search-stopped', at: now(), reason });
      return this.summary(reason);
    } finally {
      this.journal.close();
      await this.cleanWorktrees();
    }
  }

  /** Rebuilds the state from the journal, closing experiments a previous engine left unfinished. */
  private restore(): void {
    const { records } = readJournal(journalPath(this.opts.repoRoot, this.id));
    for (const r of records) {
      if (r.type === 'metric-chosen') this.task.metric = { name: r.name, direction: r.direction };
      if (r.type === 'notes') this.notes = r.text;
    }
    const done = experimentsOf(records);
    const doneIds = new Set(done.map((e) => e.id));
    const proposed = new Map<string, Extract<JournalRecord, { type: 'proposed' }>>();
    const startedIds = new Set<string>();
    const maxNumber = (id: string) => Number(id.slice(1)) || 0;
    for (const r of records) {
      if (r.type === 'experiment-started' || r.type === 'experiment' || r.type === 'proposed') {
        const id = r.type === 'experiment' ? r.experiment.id : r.id;
        this.nextNumber = Math.max(this.nextNumber, maxNumber(id) + 1);
      }
      if (r.type === 'proposed') proposed.set(r.id, r);
      if (r.type === 'experiment-started') startedIds.add(r.id);
      if (r.type === 'experiment-started' && !doneIds.has(r.id) && r.id !== BASELINE_ID) {
        // The patch and its cost are kept, so the record says what was being tried; the
        // proposer's own bookkeeping (meta) is not, so a proposer may try it again.
        const p = proposed.get(r.id)?.proposal;
        const interrupted: ExperimentRecord = {
          id: r.id,
          parent: r.parent,
          thread: r.thread ?? 'main',
          hypothesis: r.hypothesis,
          proposer: this.opts.proposer.name,
          patch: p?.patch ?? '',
          runs: [],
          audit: [],
          verdict: { kind: 'cancelled' },
          startedAt: r.at,
          finishedAt: now(),
          meta: { note: 'interrupted: the engine stopped before this experiment finished' },
        };
        if (p?.usage) interrupted.usage = p.usage;
        this.record({ type: 'experiment', at: now(), experiment: interrupted });
        done.push(interrupted);
        doneIds.add(r.id);
      }
    }
    this.finished.push(...done);
    const baseline = done.find((e) => e.id === BASELINE_ID);
    if (baseline) {
      this.noise = baseline.spread ?? 0;
      this.best = bestExperiment(this.finished, this.task.metric.direction);
    }
    // Proposals a crashed engine made but never started wait for a slot again.
    for (const r of proposed.values()) {
      if (startedIds.has(r.id) || doneIds.has(r.id)) continue;
      const parent = this.finished.find((e) => e.id === r.parent);
      const prepared: Prepared = { id: r.id, parent: parent ?? ({ id: r.parent } as ExperimentRecord), thread: { id: r.thread }, intent: r.intent, other: r.other, proposal: r.proposal };
      if (!parent || !baseline) {
        this.recordUnrun(prepared); // its parent is gone with the crash (a baseline never finished)
        continue;
      }
      this.startedThisSession++;
      this.pending.set(r.id, prepared);
      this.ready.push(prepared);
    }
  }


  private worktreeRoot(): string {
    return path.join(ratchetDir(this.opts.repoRoot), 'worktrees', this.id);
  }

  private async cleanWorktrees(): Promise<void> {
    const dir = this.worktreeRoot();
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    await pruneWorktrees(this.opts.repoRoot);
  }

  private async runSetup(): Promise<void> {
    this.emitEvent({ type: 'phase', phase: 'setup' });
    const slot = this.freeSlots[0]!;
    const result = await this.execute(BASELINE_ID, this.opts.settings.baselineCommit, -1, slot, this.task.setup!, 'setup.log');
    if (result.run.outcome === 'cancelled') throw new RatchetError('stopped during setup');
    if (result.result.exitCode !== 0) {
      throw new RatchetError(
        `the setup command failed (${describeExit(result.result)}): ${this.task.setup}\n${lastLines(result.result.outputTail)}`,
        `see ${path.join(searchDir(this.opts.repoRoot, this.id), 'logs', 'setup.log')}; fix "setup" in the task file`,
        'SETUP_FAILED',
      );
    }
  }

  private async runBaseline(): Promise<void> {
    this.emitEvent({ type: 'phase', phase: 'baseline' });
    const commit = this.opts.settings.baselineCommit;
    await updateRef(this.opts.repoRoot, this.ref(BASELINE_ID), commit);
    const startedAt = now();
    this.record({ type: 'experiment-started', at: startedAt, id: BASELINE_ID, hypothesis: 'baseline' });
    this.emitEvent({ type: 'experiment-started', id: BASELINE_ID, hypothesis: 'baseline' });
    const seeds = Array.from({ length: this.task.repeats }, (_, i) => i);
    const runs = await this.inSlots(seeds, (seed, slot) => this.runSeed(BASELINE_ID, commit, seed, slot));
    if (runs.some((r) => r.outcome === 'cancelled')) throw new RatchetError('stopped during the baseline; nothing to resume from yet');
    const failed = runs.find((r) => r.outcome !== 'ok' && r.outcome !== 'no-metric');
    if (failed) {
      throw new RatchetError(
        `the baseline run failed (${failed.error}): ${describeRun(this.task)}`,
        `see its log: ${path.join(searchDir(this.opts.repoRoot, this.id), failed.log)}; the unmodified task must run cleanly before a search can improve it`,
        'BASELINE_FAILED',
      );
    }
    if (!this.task.metric.name) this.chooseMetric(runs);
    for (const r of runs) this.fillValue(r);
    const missing = runs.find((r) => r.value === undefined);
    if (missing) {
      throw new RatchetError(
        `the baseline printed no ${this.task.metric.name} metric: ${missing.error ?? ''}`.trim(),
        `print a line like \`${this.task.metric.name}: 0.912\` (or a JSON line) at the end of the run, or name the metric it prints with --metric`,
        'NO_METRIC',
      );
    }
    const values = runs.map((r) => r.value!);
    const baseline: ExperimentRecord = {
      id: BASELINE_ID,
      thread: 'main',
      hypothesis: 'baseline: the working tree as it was when the search started',
      proposer: 'baseline',
      patch: '',
      commit,
      runs,
      mean: mean(values),
      spread: stdev(values),
      audit: [],
      verdict: { kind: 'baseline' },
      startedAt,
      finishedAt: now(),
    };
    this.record({ type: 'experiment', at: now(), experiment: baseline });
    this.finished.push(baseline);
    this.noise = baseline.spread!;
    this.best = baseline;
    this.emitEvent({ type: 'experiment-finished', experiment: baseline, isBest: true });
  }

  private chooseMetric(runs: RunRecord[]): void {
    const name = this.task.kernel ? kernelMetricFromRuns(runs) : inferMetricName({ values: runs[0]!.metrics, order: Object.keys(runs[0]!.metrics) });
    if (!name) {
      throw new RatchetError(
        `the run printed no metric: no \`name: number\` line or JSON line in the output of ${describeRun(this.task)}`,
        'print the metric at the end of the run, e.g. `print(f"val_bpb: {val_bpb:.4f}")`, or name it with --metric',
        'NO_METRIC',
      );
    }
    this.task.metric = { name, direction: this.task.metric.direction };
    this.record({ type: 'metric-chosen', at: now(), ...this.task.metric });
    this.emitEvent({ type: 'metric-chosen', ...this.task.metric });
  }

  private fillValue(run: RunRecord): void {
    if (run.outcome !== 'ok' && run.outcome !== 'no-metric') return;
    const v = run.metrics[this.task.metric.name];
    if (v === undefined) {
      run.outcome = 'no-metric';
      run.error = `metric ${this.task.metric.name} not found in the output`;
    } else if (!Number.isFinite(v)) {
      run.outcome = 'failed';
      run.error = `metric ${this.task.metric.name} is ${v}`;
      // The harness's sol_score is null where it knows no peak figures for the device.
      if (this.task.kernel && this.task.metric.name === 'sol_score') {
        run.error += ': the harness knows no peak figures for this device (the CPU, or a GPU missing from its table), so there is no speed-of-light bound; search on speedup instead (--metric speedup)';
      }
    } else {
      run.outcome = 'ok';
      run.value = v;
      run.source = this.task.kernel ? 'harness' : (this.sources.get(run)?.[this.task.metric.name] ?? 'output');
      delete run.error;
    }
  }

  /** Runs `work` for every item, one per free slot at a time. */
  private async inSlots<T, R>(items: T[], work: (item: T, slot: Slot) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const workers = this.freeSlots.splice(0, Math.min(this.freeSlots.length, items.length)).map(async (slot) => {
      try {
        while (next < items.length) {
          const i = next++;
          results[i] = await work(items[i]!, slot);
        }
      } finally {
        this.runStartedAt.delete(slot.id);
        this.freeSlots.push(slot);
      }
    });
    await Promise.all(workers);
    return results;
  }

  private canStart(): boolean {
    if (this.signal.aborted) return false;
    if (this.exhausted) return false;
    if (this.opts.maxExperiments !== undefined && this.startedThisSession >= this.opts.maxExperiments) {
      this.stopReason ||= `reached ${this.opts.maxExperiments} experiments`;
      return false;
    }
    if (this.pastDeadline()) {
      this.stopReason ||= 'reached the time limit';
      return false;
    }
    return true;
  }

  private pastDeadline(): boolean {
    return this.opts.deadline !== undefined && Date.now() >= this.opts.deadline;
  }

  /**
   * Runs ready proposals on free slots and asks for new ones early enough that a slot finishing
   * its run finds the next proposal waiting: the model thinks while the GPUs work.
   */
  private async loop(baselineRunning?: Promise<void>): Promise<void> {
    const active = new Set<Promise<void>>();
    const track = (work: () => Promise<void>) => {
      const task: Promise<void> = work().finally(() => active.delete(task));
      active.add(task);
    };
    this.baselineDone = baselineRunning === undefined;
    if (baselineRunning) {
      track(async () => {
        await baselineRunning;
        this.baselineDone = true;
        this.emitEvent({ type: 'phase', phase: 'search' });
      });
    }
    for (;;) {
      while (this.baselineDone && this.freeSlots.length > 0 && this.ready.length > 0 && !this.signal.aborted && !this.pastDeadline()) {
        const slot = this.freeSlots.shift()!;
        const prepared = this.ready.shift()!;
        // A proposal made while the baseline ran points at its placeholder; decisions need the real one.
        prepared.parent = this.finished.find((e) => e.id === prepared.parent.id) ?? prepared.parent;
        track(() => this.runExperiment(prepared, slot).finally(() => this.releaseSlot(slot)));
      }
      while (this.shouldPropose()) track(() => this.prepareNext());
      if (active.size === 0) break;
      const wake = this.nextProposalDue();
      let timer: NodeJS.Timeout | undefined;
      const waited = wake === undefined ? [] : [new Promise<void>((resolve) => (timer = setTimeout(resolve, wake)))];
      // A run starting changes when its slot is expected to free up: look again then.
      const runStarted = new Promise<void>((resolve) => (this.onRunStarted = resolve));
      try {
        await Promise.race([...active, ...waited, runStarted]);
      } catch (e) {
        // A fatal error (e.g. the journal's disk is full): cancel every other run, let them
        // finish cancelling, then report it.
        this.stopAll.abort();
        await Promise.allSettled(active);
        throw e;
      } finally {
        clearTimeout(timer);
      }
    }
    // Proposals made ahead that no slot took before the stop are kept, marked as never run.
    for (const p of this.ready.splice(0)) this.recordUnrun(p);
  }

  private releaseSlot(slot: Slot): void {
    this.runStartedAt.delete(slot.id);
    this.freeSlots.push(slot);
  }

  /** Proposals wanted now: one for every free slot, and one for every slot expected to free up
   * within the time a proposal takes (with a margin), unless pipelining is off. */
  private shouldPropose(): boolean {
    if (!this.canStart() || this.generating >= this.concurrency) return false;
    // While the baseline runs, every slot will want a proposal the moment it ends.
    const wanted = this.baselineDone ? this.freeSlots.length + this.slotsFreeWithin(this.lead()) : this.slotCount;
    return this.ready.length + this.generating < wanted;
  }

  private proposesAhead(): boolean {
    return this.opts.pipelining !== false && this.opts.proposer.latency === 'slow';
  }

  /** Stands in for the baseline while it runs, so proposals can be made against its commit. */
  private provisionalBaseline(): ExperimentRecord {
    const at = now();
    return {
      id: BASELINE_ID,
      thread: 'main',
      hypothesis: 'baseline: the working tree as it was when the search started (still running)',
      proposer: 'baseline',
      patch: '',
      commit: this.opts.settings.baselineCommit,
      runs: [],
      audit: [],
      verdict: { kind: 'baseline' },
      startedAt: at,
      finishedAt: at,
    };
  }

  private lead(): number {
    if (this.opts.pipelining === false) return 0;
    // Slots that free up together queue for the proposer: look ahead for every round of calls
    // it takes to serve all of them.
    const rounds = Math.ceil(this.slotCount / this.concurrency);
    // A proposer much faster than a run costs the slots almost nothing when asked on demand, and
    // asking early would only make its proposals from staler results.
    const fast = this.opts.proposer.latency !== 'slow' && this.proposalLatency < WORTH_PIPELINING * this.expectedRunMs();
    return fast ? 0 : PROPOSAL_LEAD_FACTOR * this.proposalLatency * rounds;
  }

  private expectedRunMs(): number {
    const recent = this.runDurations.slice(-10).sort((a, b) => a - b);
    return recent.length > 0 ? recent[Math.floor(recent.length / 2)]! : Infinity;
  }

  private slotsFreeWithin(ms: number): number {
    if (ms <= 0) return 0;
    const horizon = Date.now() + ms;
    let n = 0;
    for (const started of this.runStartedAt.values()) if (started + this.expectedRunMs() <= horizon) n++;
    return n;
  }

  /** Milliseconds until the next busy slot comes within the proposal lead; undefined: none will. */
  private nextProposalDue(): number | undefined {
    if (!this.canStart() || this.generating >= this.concurrency || this.lead() <= 0) return undefined;
    const run = this.expectedRunMs();
    if (!Number.isFinite(run)) return undefined;
    const due = [...this.runStartedAt.values()].map((t) => t + run - this.lead() - Date.now()).filter((d) => d > 0);
    return due.length > 0 ? Math.ceil(Math.min(...due)) + 1 : undefined;
  }

  private ref(id: string): string {
    return `refs/ratchet/${this.id}/${id}`;
  }

  /** Asks the policy what to do next and the proposer for a proposal; queues it for a slot. */
  private async prepareNext(): Promise<void> {
    this.generating++;
    this.startedThisSession++;
    const choice = this.choose();
    const prepared: Prepared = {
      id: `e${this.nextNumber++}`,
      parent: choice.parent,
      thread: choice.thread,
      intent: choice.intent.kind,
      other: choice.intent.kind === 'combine' ? choice.intent.other.id : choice.intent.kind === 'debug' ? choice.intent.failed.id : undefined,
    };
    this.pending.set(prepared.id, prepared);
    const started = Date.now();
    let proposal: Proposal | null;
    try {
      proposal = await this.propose(prepared, choice);
      this.proposalLatency = this.proposalLatency === 0 ? Date.now() - started : 0.7 * this.proposalLatency + 0.3 * (Date.now() - started);
    } catch (e) {
      this.pending.delete(prepared.id);
      if (this.signal.aborted) return;
      if (e instanceof RatchetError) {
        this.exhausted = true;
        this.stopReason = e.describe();
        return;
      }
      this.countProposerFailure((e as Error).message);
      return;
    } finally {
      this.generating--;
    }
    if (proposal === null) {
      this.pending.delete(prepared.id);
      if (this.signal.aborted || this.exhausted || this.pastDeadline()) return;
      this.exhausted = true;
      this.stopReason ||= `the ${this.opts.proposer.name} proposer has nothing more to try`;
      return;
    }
    prepared.proposal = proposal;
    if (proposal.notes !== undefined && proposal.notes.trim() !== '' && proposal.notes !== this.notes) this.saveNotes(prepared.id, proposal.notes);
    if (proposal.failure !== undefined) {
      this.pending.delete(prepared.id);
      this.recordFailedProposal(prepared, proposal);
      this.countProposerFailure(proposal.failure);
      return;
    }
    this.proposerFailures = 0;
    this.record({ type: 'proposed', at: now(), id: prepared.id, parent: prepared.parent.id, thread: prepared.thread.id, intent: prepared.intent, other: prepared.other, proposal });
    this.ready.push(prepared);
  }

  private countProposerFailure(message: string): void {
    if (++this.proposerFailures >= MAX_PROPOSER_FAILURES_IN_A_ROW) {
      this.exhausted = true;
      this.stopReason = `the ${this.opts.proposer.name} proposer failed ${this.proposerFailures} times in a row: ${message}`;
    }
  }

  /** Suspect results a person accepted while the search runs (`ratchet accept`, the editor)
   * count as kept from then on, and may become the best the next proposals build on. */
  private pickUpAcceptances(): void {
    if (!this.finished.some((e) => e.verdict.kind === 'suspect')) return;
    for (const e of experimentsOf(readJournal(journalPath(this.opts.repoRoot, this.id)).records)) {
      const i = this.finished.findIndex((x) => x.id === e.id);
      if (!e.accepted || i < 0 || this.finished[i]!.verdict.kind !== 'suspect') continue;
      this.finished[i] = e;
      if (e.mean !== undefined && isBetter(e.mean, this.best!.mean!, this.task.metric.direction)) {
        this.best = e;
        this.record({ type: 'best', at: now(), id: e.id, mean: e.mean });
      }
    }
  }

  /** The policy's choice; a proposer that only improves always extends the best node. */
  private choose(): Choice {
    this.pickUpAcceptances();
    if (!this.opts.proposer.followsIntents) return { parent: this.best!, thread: { id: 'main' }, intent: { kind: 'improve' } };
    return choose({
      finished: this.finished,
      pending: [...this.pending.values()].map((p) => ({ parent: p.parent.id, thread: p.thread.id, intent: p.intent, other: p.other })),
      best: this.best!,
      direction: this.task.metric.direction,
      maxThreads: Math.max(1, this.opts.threads ?? DEFAULT_THREADS),
      random: seededRandom(this.opts.settings.seed * 7919 + this.nextNumber),
    });
  }

  private async propose(prepared: Prepared, choice: Choice): Promise<Proposal | null> {
    // This experiment is already counted; only a stop, the proposer running dry or the clock
    // can cancel it while it waited for its turn.
    if (this.signal.aborted || this.exhausted || this.pastDeadline()) return null;
    let intent: ProposalIntent;
    if (choice.intent.kind === 'combine') {
      const other = choice.intent.other;
      const merge = await mergeExperiments(this.opts.repoRoot, choice.parent.commit!, other.commit!, this.task.editable);
      intent = { kind: 'combine', other, merge };
    } else {
      intent = choice.intent;
    }
    return this.opts.proposer.propose({
      task: this.task,
      parent: choice.parent,
      readFile: (exp, file) => {
        // The parent may be the baseline's placeholder while the baseline still runs.
        const e = this.finished.find((x) => x.id === exp) ?? (choice.parent.id === exp ? choice.parent : undefined);
        if (!e?.commit) throw new Error(`experiment ${exp} has no commit`);
        return readFileAt(this.opts.repoRoot, e.commit, file);
      },
      history: this.finished,
      pending: [...this.pending.values()].flatMap((p) => (p.proposal ? [p.proposal] : [])),
      random: seededRandom(this.opts.settings.seed * 1_000_003 + Number(prepared.id.slice(1))),
      signal: this.signal,
      intent,
      thread: choice.thread,
      notes: this.notes,
      noise: this.noise,
    });
  }

  private saveNotes(by: string, text: string): void {
    this.notes = text;
    this.record({ type: 'notes', at: now(), by, text });
    // A readable copy beside the journal; the journal is the record.
    try {
      writeFileSync(path.join(searchDir(this.opts.repoRoot, this.id), 'notes.md'), text.endsWith('\n') ? text : text + '\n');
    } catch {
      // The journal holds the notes; a failed copy loses nothing.
    }
  }

  private newRecord(p: Prepared, startedAt: string): ExperimentRecord {
    const proposal = p.proposal!;
    const exp: ExperimentRecord = {
      id: p.id,
      parent: p.parent.id,
      thread: p.thread.id,
      hypothesis: proposal.hypothesis,
      proposer: this.opts.proposer.name,
      patch: proposal.patch,
      meta: proposal.meta,
      runs: [],
      audit: [],
      verdict: { kind: 'cancelled' },
      startedAt,
      finishedAt: startedAt,
    };
    if (p.intent !== 'improve' || this.opts.proposer.followsIntents) exp.intent = p.intent;
    if (p.other !== undefined) exp.other = p.other;
    if (proposal.usage) exp.usage = proposal.usage;
    return exp;
  }

  /** A proposal the proposer could not make usable: recorded, so the next prompt learns from it. */
  private recordFailedProposal(p: Prepared, proposal: Proposal): void {
    const exp = this.newRecord(p, now());
    exp.verdict = { kind: 'rejected', reason: proposal.failure! };
    this.record({ type: 'experiment-started', at: exp.startedAt, id: exp.id, parent: exp.parent, hypothesis: exp.hypothesis, thread: exp.thread });
    this.emitEvent({ type: 'experiment-started', id: exp.id, parent: exp.parent, hypothesis: exp.hypothesis });
    this.finish(exp);
  }

  private recordUnrun(p: Prepared): void {
    this.pending.delete(p.id);
    const exp = this.newRecord(p, now());
    exp.meta = { ...exp.meta, note: 'proposed, never run: the search stopped before a slot ran it' };
    this.finish(exp);
  }

  /** One experiment from its proposal to its verdict, on one slot. */
  private async runExperiment(p: Prepared, slot: Slot): Promise<void> {
    const startedAt = now();
    try {
      const exp = this.newRecord(p, startedAt);
      this.record({ type: 'experiment-started', at: startedAt, id: exp.id, parent: exp.parent, hypothesis: exp.hypothesis, thread: exp.thread });
      this.emitEvent({ type: 'experiment-started', id: exp.id, parent: exp.parent, hypothesis: exp.hypothesis });
      exp.verdict = await this.evaluate(exp, p.parent, slot);
      exp.finishedAt = now();
      this.finish(exp);
    } finally {
      this.pending.delete(p.id);
    }
  }

  private async evaluate(exp: ExperimentRecord, parent: ExperimentRecord, slot: Slot): Promise<Verdict> {
    try {
      checkPatch(exp.patch, this.task);
    } catch (e) {
      if (e instanceof PatchRejected) return { kind: 'rejected', reason: e.message };
      throw e;
    }
    try {
      exp.commit = await commitPatch(this.opts.repoRoot, parent.commit!, exp.patch, `${exp.id}: ${exp.hypothesis}`);
    } catch (e) {
      if (e instanceof GitError) return { kind: 'rejected', reason: `the patch does not apply: ${e.stderr.trim().split('\n')[0]}` };
      throw e;
    }
    await updateRef(this.opts.repoRoot, this.ref(exp.id), exp.commit);
    exp.audit.push(...auditPatch(exp.patch, this.task, await this.filesOf(exp)));

    const ctx = (): VerdictContext => ({ task: this.task, noise: this.noise, parent, baseline: this.finished.find((e) => e.id === BASELINE_ID)!, finished: this.finished });
    const maxSeeds = Math.max(1, this.opts.maxSeeds ?? Math.max(3, this.task.repeats));
    for (let seed = 0; ; seed++) {
      const run = await this.runSeed(exp.id, exp.commit, seed, slot, exp);
      exp.runs.push(run);
      if (run.outcome === 'cancelled') return { kind: 'cancelled' };
      // A suspected hack outweighs a failure: a kernel run fails when any check fails, and a
      // cheat must be recorded as one, never handed back to be debugged.
      const suspect = exp.audit.find((a) => a.severity === 'hack');
      if (run.outcome !== 'ok' && suspect) return { kind: 'flagged', reason: suspect.message };
      if (run.outcome !== 'ok') return { kind: 'failed', reason: run.error ?? run.outcome };
      const values = exp.runs.map((r) => r.value!);
      exp.mean = mean(values);
      exp.spread = stdev(values);
      // Past the time limit a close call is settled with the runs in hand.
      if (!wantsAnotherRun(exp, ctx(), maxSeeds) || this.signal.aborted || this.pastDeadline()) break;
    }
    const other = exp.intent === 'combine' ? this.finished.find((e) => e.id === exp.other) : undefined;
    const verdict = verdictOf(exp, ctx(), other);
    return verdict.kind === 'kept' ? this.review(exp, parent, verdict) : verdict;
  }

  /** The new content of each file the patch touches, for the static audit. */
  private async filesOf(exp: ExperimentRecord): Promise<Record<string, string>> {
    const files: Record<string, string> = {};
    for (const file of new Set([...exp.patch.matchAll(/^\+\+\+ b\/(.+)$/gm)].map((m) => m[1]!))) {
      try {
        files[file] = await readFileAt(this.opts.repoRoot, exp.commit!, file);
      } catch {
        // A deleted file has nothing to audit.
      }
    }
    return files;
  }

  /** The auditor model's opinion of a result about to be kept: a flag holds it for review. It is
   * never the only defence, so a reviewer that fails leaves the verdict as it was. */
  private async review(exp: ExperimentRecord, parent: ExperimentRecord, verdict: Extract<Verdict, { kind: 'kept' }>): Promise<Verdict> {
    const reviewer = this.opts.reviewer;
    if (!reviewer || this.signal.aborted) return verdict;
    try {
      const { review, usage } = await reviewer.review({ task: this.task, experiment: exp, parent, patch: exp.patch, signal: this.signal });
      exp.review = review;
      if (usage) exp.usage = exp.usage ? addProposalUsage(exp.usage, usage) : usage;
      if (review.verdict === 'flag') return { kind: 'suspect', reason: `the auditor model flagged it: ${review.reason}`, improvement: verdict.improvement, threshold: verdict.threshold };
    } catch (e) {
      if (this.signal.aborted) return verdict;
      exp.meta = { ...exp.meta, reviewError: (e as Error).message };
    }
    return verdict;
  }

  private finish(exp: ExperimentRecord): void {
    this.record({ type: 'experiment', at: now(), experiment: exp });
    this.finished.push(exp);
    let isBest = false;
    if (exp.verdict.kind === 'kept' && exp.mean !== undefined && isBetter(exp.mean, this.best!.mean!, this.task.metric.direction)) {
      this.best = exp;
      isBest = true;
      this.record({ type: 'best', at: now(), id: exp.id, mean: exp.mean });
    }
    this.emitEvent({ type: 'experiment-finished', experiment: exp, isBest });
  }

  private async runSeed(id: string, commit: string, seed: number, slot: Slot, exp?: ExperimentRecord): Promise<RunRecord> {
    const { run, result, findings } = await this.execute(id, commit, seed, slot, this.task.run ?? '', `${id}-s${seed}.log`);
    // An inferred metric is only named once the baseline's runs are in; until then the value waits.
    if (this.task.metric.name) this.fillValue(run);
    this.emitEvent({ type: 'run-finished', id, run });
    // The end of a failed run's log, for whoever debugs it next.
    if (exp && (run.outcome === 'failed' || run.outcome === 'timeout' || run.outcome === 'no-metric')) exp.meta = { ...exp.meta, logTail: lastLines(result.outputTail, 30).slice(-3000) };
    if (exp) exp.audit.push(...findings.filter((f) => !exp.audit.some((a) => a.check === f.check && a.file === f.file)));
    else {
      // The baseline is trusted code: a warning about it is noise, a failed check is a broken task.
      const broken = findings.filter((f) => f.severity === 'hack');
      const changed = broken.filter((f) => f.check === 'protected-file-changed');
      if (changed.length > 0) {
        throw new RatchetError(`the baseline run changed protected files: ${changed.map((f) => f.file).join(', ')}`, 'the unmodified task must not write to its protected files; fix "protected" in the task file');
      }
      if (broken.length > 0) {
        throw new RatchetError(
          `the baseline failed the harness's ${broken.map((f) => f.check).join(', ')} check: ${broken[0]!.message}`,
          'the unmodified code must pass every check before a search can improve it; fix it, or start from another candidate',
          'BASELINE_FAILED',
        );
      }
    }
    return run;
  }

  /** Runs a command on a slot, for one seed of an experiment (seed -1: the setup command). */
  private async execute(id: string, commit: string, seed: number, slot: Slot, command: string, logName: string) {
    if (seed >= 0) this.emitEvent({ type: 'run-started', id, seed, slot: slot.id });
    const logRel = path.join('logs', logName);
    const started = Date.now();
    this.runStartedAt.set(slot.id, started);
    this.onRunStarted();
    const result = await this.opts.runner.run({
      experimentId: id,
      seed,
      repoRoot: this.opts.repoRoot,
      commit,
      baseCommit: this.opts.settings.baselineCommit,
      cwd: this.task.cwd,
      command,
      // The setup (seed -1) is a shell command even for a kernel task.
      kernel: seed >= 0 ? this.task.kernel : undefined,
      contract: seed >= 0 ? trainContract(this.task) : undefined,
      env: {
        ...this.task.env,
        RATCHET_SEED: String(Math.max(0, seed)),
        RATCHET_EXPERIMENT_ID: id,
        RATCHET_SEARCH_ID: this.id,
        PYTHONUNBUFFERED: '1',
      },
      scrubEnv: this.opts.secrets?.names.slice(),
      redact: this.opts.secrets?.redact,
      timeoutMs: this.task.budgetSeconds * 1000,
      protected: this.task.protected,
      logPath: path.join(searchDir(this.opts.repoRoot, this.id), logRel),
      slot,
      signal: this.signal,
    });
    const run = this.toRunRecord(result, seed, logRel, slot);
    if (result.metricSources) this.sources.set(run, result.metricSources);
    if (!result.cancelled && !result.spawnError) this.runDurations.push(Date.now() - started);
    return { run, result, findings: result.audit };
  }

  private toRunRecord(result: RunResult, seed: number, log: string, slot: Slot): RunRecord {
    const base: Omit<RunRecord, 'outcome'> = { seed, metrics: {}, exitCode: result.exitCode, durationMs: result.durationMs, log, slot: result.slot ?? slot.id };
    if (result.bytesSent !== undefined) base.bytesSent = result.bytesSent;
    if (result.guard !== undefined) base.guard = result.guard;
    if (result.secondsToEvaluation !== undefined) base.secondsToEvaluation = result.secondsToEvaluation;
    if (result.trainingSeconds !== undefined) base.trainingSeconds = result.trainingSeconds;
    // A cancel wins: a run stopped while it was starting may not have said how it ended.
    if (result.cancelled) return { ...base, outcome: 'cancelled', error: 'cancelled' };
    if (result.spawnError) return { ...base, outcome: 'failed', error: `could not run: ${result.spawnError}` };
    if (result.timedOut) return { ...base, outcome: 'timeout', error: `over the time budget of ${this.task.budgetSeconds} s` };
    const metrics = result.metrics ?? parseMetrics(result.outputTail).values;
    if (result.failure) return { ...base, metrics, outcome: 'failed', error: result.failure };
    if (result.exitCode !== 0) {
      const hint = result.exitCode === 127 ? ' (command not found)' : '';
      return { ...base, metrics, outcome: 'failed', error: `${describeExit(result)}${hint}: ${crashLine(result.outputTail)}` };
    }
    return { ...base, metrics, outcome: 'no-metric' }; // fillValue decides once the metric name is known
  }

  private summary(reason: string): SearchSummary {
    const baseline = this.finished.find((e) => e.id === BASELINE_ID)!;
    return { searchId: this.id, baseline, best: this.best ?? baseline, experiments: [...this.finished], noise: this.noise, stoppedBecause: reason };
  }

  get metric() {
    return this.task.metric;
  }

  /** Experiments started and not yet finished. */
  get inFlight(): number {
    return this.pending.size;
  }

  private get concurrency(): number {
    return Math.max(1, this.opts.proposer.concurrency ?? 1);
  }
}

function now(): string {
  return new Date().toISOString();
}

/** What a run is, for messages: the task's command, or the kernel check. */
export function describeRun(task: Task): string {
  if (task.kernel) return `the kernel check of ${task.kernel.candidate} against ${task.kernel.task ?? task.kernel.problem}`;
  return `\`${task.run ?? ''}\``;
}

function describeExit(r: RunResult): string {
  return r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`;
}

function lastLines(text: string, n = 5): string {
  return text.trimEnd().split('\n').slice(-n).join('\n').slice(-500);
}
