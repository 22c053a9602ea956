// Builds the prompt of an `llm` proposal within a token budget: the task's rules and the answer
// format (system), then guidance, notes, the history, what to do now and the files (user).
// Deterministic: the same input gives the same prompt, and the system text depends on the task
// alone, so that a provider's prompt cache can reuse it from one proposal to the next.
import { RatchetError } from '../../errors';
import type { Direction, ExperimentRecord, ProposalIntent, Task, ThreadInfo } from '../../types';
import { estimateTokens, fenced, longestBacktickRun, num, oneLine, signed } from '../../llm/text';
import { EDIT_FORMAT_INSTRUCTIONS } from './edit-format';

export { estimateTokens };

export interface PromptInput {
  task: Task;
  intent: ProposalIntent;
  thread?: ThreadInfo;
  /** The experiment the patch is against. */
  parent: ExperimentRecord;
  /** The files to edit, i.e. the edit base: the parent's files; for debug, the failed child's when it
   * has a commit; for combine, the merged files (clean merge) or the conflicted files with markers. */
  files: { path: string; content: string }[];
  /** Every finished experiment, baseline first. */
  history: readonly ExperimentRecord[];
  /** The baseline's standard deviation of the metric. */
  noise: number;
  /** The research notes so far. */
  notes: string;
  /** The user's own guidance (a research programme), read fresh each time. */
  guidance?: string;
  /** Hypotheses being tried right now by other proposals, so this one tries something else. */
  inFlight?: string[];
  /** Budget for system + user together, in tokens estimated as ceil(chars / 4). */
  contextTokens: number;
}

export interface BuiltPrompt {
  system: string;
  user: string;
  /** Estimated tokens of system + user; never more than `contextTokens`. */
  tokens: number;
  /** Experiments folded into the summary of earlier experiments instead of listed one per line. */
  summarised: number;
}

/** The prompt for one proposal; throws RatchetError when the rules and the files alone exceed the budget. */
export function buildPrompt(input: PromptInput): BuiltPrompt {
  const system = systemPrompt(input.task);
  const files = filesSection(input.files);
  const fixed = estimateTokens(system + files);
  if (fixed > input.contextTokens) throw tooLarge(fixed, input.contextTokens);
  let smallest = fixed;
  for (const plan of plans(input.history.length)) {
    const { text, summarised } = userPrompt(input, plan, files);
    const tokens = estimateTokens(system + text);
    if (tokens <= input.contextTokens) return { system, user: text, tokens, summarised };
    smallest = tokens;
  }
  throw tooLarge(smallest, input.contextTokens);
}

function tooLarge(needed: number, budget: number): RatchetError {
  return new RatchetError(
    `the editable files are too large for the context budget: with the task's rules they need about ${needed} tokens, and the prompt may have ${budget}`,
    'raise contextTokens (the model has to see every file it edits in full), or make the editable files smaller',
    'CONTEXT_BUDGET',
  );
}

// ---------------------------------------------------------------------------------------------
// System: the role, the task's rules, the answer format
// ---------------------------------------------------------------------------------------------

function systemPrompt(task: Task): string {
  const better = task.metric.direction === 'lower' ? 'lower is better' : 'higher is better';
  const where = task.cwd ? ` in the folder ${task.cwd}` : ' at the repository root';
  const protectedLine =
    task.protected.length > 0
      ? `- Protected files: ${task.protected.join(', ')}. No change may touch them.`
      : '- No files are listed as protected; the rule on measurement below holds all the same.';
  return [
    'You are a careful machine-learning and GPU-performance researcher. You improve a program one small, verifiable change at a time: each change you propose is run and measured against the experiment it extends, kept only if it improves the metric by more than the noise, and discarded otherwise. You will see every result in the history.',
    '',
    `## The task: ${task.name}`,
    ...(task.description ? [task.description.trim()] : []),
    ...(task.kernel ? kernelRules(task, better) : [
      `- Metric: ${task.metric.name}, ${better}. The program prints it on a line \`${task.metric.name}: <value>\`.`,
      `- Each run is \`${task.run}\`${where}, with a budget of ${task.budgetSeconds} s: a run over the budget is stopped and counts as failed, so a change must keep the run within it. Each run gets its seed in the environment variable RATCHET_SEED.`,
    ]),
    `- Editable files: ${task.editable.join(', ')}. Only their contents may change; no file is created, deleted or renamed.`,
    protectedLine,
    '- Reward hacking: touching protected files, or tampering with how the metric is measured (the timing, the time budget, the evaluation data or code, the computation of the metric, the line that prints it, the seed) is reward hacking. Every change is audited; a flagged change is discarded and recorded as a hack. Improve the real thing.',
    '- Noise: runs of the same code differ. Experiments are compared with a noise-aware test, so a gain smaller than the noise needs repeated runs to show and is often discarded. Prefer changes whose effect should clearly exceed the noise.',
    '- One idea per answer: one coherent change, small enough that its effect can be attributed to it.',
    '',
    '## Answer format',
    EDIT_FORMAT_INSTRUCTIONS,
  ].join('\n');
}

/** How a kernel task's runs work: the harness checks the candidate, then times it. */
function kernelRules(task: Task, better: string): string[] {
  const k = task.kernel!;
  const against = k.task !== undefined ? `the reference in ${k.task}` : `the SOL-ExecBench problem in ${k.problem}`;
  return [
    `- Each run checks the candidate ${k.candidate} (its \`ModelNew\`) against ${against}${k.device ? ` on the ${k.device === 'cpu' ? 'CPU' : 'GPU'}` : ''}: every shape, fresh random inputs, outputs compared with a float64 reference; then inputs, state, timers, threads and launches are checked for cheating; then it is timed against the reference. Budget ${task.budgetSeconds} s for all of it.`,
    `- Metric: ${task.metric.name}, ${better}, measured by the harness (sol_score: 0.5 at the scoring baseline's speed, 1.0 at the hardware's speed-of-light bound; speedup: reference time over candidate time, geometric mean over the shapes). Nothing the candidate prints counts.`,
    '- A candidate that does not load, computes a wrong result or crashes is a failed experiment with the error; one that mutates its inputs, caches answers, patches timers or torch, hides work on other streams or threads, or beats the roofline is flagged as a hack.',
  ];
}

// ---------------------------------------------------------------------------------------------
// Budget: plans from the most detailed prompt to the most compact
// ---------------------------------------------------------------------------------------------

interface HistoryPlan {
  /** Experiments listed one per line, the most recent ones; the earlier ones are summarised. */
  recent: number;
  /** One-line hypotheses shown for the most informative summarised experiments. */
  informative: number;
  best: number;
  failures: number;
  flagged: number;
}

interface Plan {
  history: HistoryPlan;
  /** Characters of a patch shown in the instruction (debug, combine). */
  patchChars: number;
  /** Characters of the notes and of the guidance shown. */
  textChars: number;
}

const FULL_PATCH_CHARS = 6000;

/** Plans to try in order. The history shrinks first (summarised, never cut blindly), then the
 * patch excerpt, then the notes and guidance; the rules and the files never do. */
function* plans(historyLength: number): Generator<Plan> {
  const experiments = Math.max(0, historyLength - 1);
  const history: HistoryPlan[] = [];
  const windows = [experiments, 60, 30, 15, 8, 4, 0].filter((n, i, all) => n <= experiments && all.indexOf(n) === i);
  for (const recent of windows) history.push({ recent, informative: 8, best: 5, failures: 5, flagged: 8 });
  history.push({ recent: 0, informative: 0, best: 5, failures: 5, flagged: 8 });
  history.push({ recent: 0, informative: 0, best: 3, failures: 2, flagged: 4 });
  history.push({ recent: 0, informative: 0, best: 1, failures: 0, flagged: 2 });
  history.push({ recent: 0, informative: 0, best: 0, failures: 0, flagged: 0 });
  for (const h of history) yield { history: h, patchChars: FULL_PATCH_CHARS, textChars: Infinity };
  const smallest = history[history.length - 1]!;
  for (const patchChars of [2000, 600, 0]) yield { history: smallest, patchChars, textChars: Infinity };
  for (const textChars of [8000, 4000, 2000, 1000, 400, 0]) yield { history: smallest, patchChars: 0, textChars };
}

// ---------------------------------------------------------------------------------------------
// User: guidance, notes, history, what to do now, files
// ---------------------------------------------------------------------------------------------

function userPrompt(input: PromptInput, plan: Plan, files: string): { text: string; summarised: number } {
  const view = new HistoryView(input);
  const history = historySection(view, plan.history);
  const parts: string[] = [];
  if (input.guidance?.trim()) parts.push(`## Research programme (the user's guidance: follow it)\n${clip(input.guidance.trim(), plan.textChars, 'guidance')}`);
  const notes = input.notes.trim() ? clip(input.notes.trim(), plan.textChars, 'notes') : '(none yet)';
  parts.push(`## Research notes so far\n${notes}`);
  parts.push(history.text);
  const inFlight = (input.inFlight ?? []).slice(-MAX_IN_FLIGHT_SHOWN);
  if (inFlight.length > 0) parts.push(`## Being tried right now (do not repeat these)\n${inFlight.map((h) => `- ${oneLine(h, 200)}`).join('\n')}`);
  parts.push(instruction(input, view, plan.patchChars));
  parts.push(files);
  return { text: parts.join('\n\n'), summarised: history.summarised };
}

const MAX_IN_FLIGHT_SHOWN = 8;

/** Text cut to `max` characters, saying how much was cut. */
function clip(text: string, max: number, what: string): string {
  if (text.length <= max) return text;
  const cut = text.length - max;
  const note = what === 'notes' ? ' (keep your updated notes shorter)' : '';
  return `${text.slice(0, max).trimEnd()}${max > 0 ? '\n' : ''}[… ${cut} more characters of the ${what} cut to fit the context budget${note}]`;
}

function filesSection(files: { path: string; content: string }[]): string {
  const shown = files.map((f) => {
    const fence = '`'.repeat(Math.max(3, longestBacktickRun(f.content) + 1));
    const body = f.content.endsWith('\n') ? f.content : `${f.content}\n`;
    return `### ${f.path}\n${fence}\n${body}${fence}`;
  });
  return ['## Files', 'The current content of each file to edit. Your SEARCH lines must match these exactly.', '', ...shown].join('\n');
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

/** The history with what every section needs: the baseline, the direction, formatting. */
class HistoryView {
  readonly baseline: ExperimentRecord | undefined;
  /** Every experiment after the baseline, in order. */
  readonly experiments: readonly ExperimentRecord[];
  readonly direction: Direction;
  readonly metric: string;
  readonly noise: number;

  constructor(input: PromptInput) {
    this.baseline = input.history.find((e) => e.verdict.kind === 'baseline') ?? input.history[0];
    this.experiments = input.history.filter((e) => e.id !== this.baseline?.id);
    this.direction = input.task.metric.direction;
    this.metric = input.task.metric.name;
    this.noise = input.noise;
  }

  /** Mean, Δ vs baseline and runs, e.g. "1.1 (Δ -0.134 vs baseline, 3 runs)". */
  result(e: ExperimentRecord): string {
    if (e.mean === undefined) return 'no value';
    const base = this.baseline?.mean;
    const delta = base === undefined || e.id === this.baseline?.id ? '' : `Δ ${signed(e.mean - base)} vs baseline, `;
    const n = runsWithValue(e);
    return `${num(e.mean)} (${delta}${n} ${n === 1 ? 'run' : 'runs'})`;
  }

  /** Sorts best first by mean; ties keep history order. */
  byMean(list: readonly ExperimentRecord[]): ExperimentRecord[] {
    const sign = this.direction === 'lower' ? 1 : -1;
    return [...list].sort((a, b) => sign * (a.mean! - b.mean!));
  }
}

function historySection(view: HistoryView, plan: HistoryPlan): { text: string; summarised: number } {
  const all = view.experiments;
  const recent = all.slice(all.length - plan.recent);
  const earlier = all.slice(0, all.length - plan.recent);
  const better = view.direction === 'lower' ? 'lower is better' : 'higher is better';
  const lines = ['## History of this search'];
  lines.push(
    view.baseline
      ? `Baseline ${view.baseline.id}: ${view.metric} ${view.result(view.baseline)}, ${better}. Noise (standard deviation of the baseline's runs): ${num(view.noise)}.`
      : `No baseline yet. ${view.metric}: ${better}.`,
  );
  lines.push(all.length === 0 ? 'No experiments after the baseline yet.' : `${all.length} experiments after the baseline: ${verdictCounts(all)}.`);
  const best = plan.best > 0 ? view.byMean(all.filter((e) => e.verdict.kind === 'kept' && e.mean !== undefined)).slice(0, plan.best) : [];
  const failures = plan.failures > 0 ? all.filter(isFailure).slice(-plan.failures) : [];
  const flagged = plan.flagged > 0 ? all.filter(isFlagged).slice(-plan.flagged) : [];
  if (plan.best > 0) lines.push(...bestLines(view, best));
  lines.push(...failureLines(failures));
  lines.push(...flaggedLines(flagged));
  // With nothing listed one per line and no examples, the totals above already are the summary.
  if (earlier.length > 0 && (plan.recent > 0 || plan.informative > 0)) {
    const shown = new Set([...best, ...failures, ...flagged]);
    const informative = mostInformative(view, earlier.filter((e) => !shown.has(e)), plan.informative);
    lines.push(...summaryLines(view, earlier, informative, plan.recent > 0));
  }
  if (recent.length > 0) {
    lines.push('', plan.recent < all.length ? `### The ${recent.length} most recent experiments (oldest first)` : '### Every experiment (oldest first)');
    for (const e of recent) lines.push(`- ${experimentLine(view, e)}`);
  }
  return { text: lines.join('\n'), summarised: earlier.length };
}

function isFailure(e: ExperimentRecord): boolean {
  return e.verdict.kind === 'failed' || e.verdict.kind === 'rejected';
}

function isFlagged(e: ExperimentRecord): boolean {
  return e.verdict.kind === 'flagged' || e.audit.some((f) => f.severity === 'hack');
}

function bestLines(view: HistoryView, best: ExperimentRecord[]): string[] {
  if (best.length === 0) return ['', '### Best so far', 'Nothing kept yet: no change has beaten its parent by more than the noise.'];
  return ['', '### Best so far', ...best.map((e) => `- ${e.id} [thread ${e.thread}]: ${view.result(e)}: ${oneLine(e.hypothesis, 160)}`)];
}

function failureLines(failures: ExperimentRecord[]): string[] {
  if (failures.length === 0) return [];
  return ['', '### Recent failures', ...failures.map((e) => `- ${e.id} ${e.verdict.kind}: ${oneLine(reasonOf(e), 200)} (hypothesis: ${oneLine(e.hypothesis, 120)})`)];
}

function flaggedLines(flagged: ExperimentRecord[]): string[] {
  if (flagged.length === 0) return [];
  const lines = ['', '### Flagged as reward hacking (discarded; do not do anything like it)'];
  for (const e of flagged) {
    const hacks = e.audit.filter((f) => f.severity === 'hack');
    const what = hacks.length > 0 ? hacks.map((f) => `${f.check}: ${f.message}${f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : ''}`).join('; ') : reasonOf(e);
    lines.push(`- ${e.id}: ${oneLine(what, 240)} (hypothesis: ${oneLine(e.hypothesis, 120)})`);
  }
  return lines;
}

/** Earlier experiments collapsed into counts, plus the most informative ones in a line each. */
function summaryLines(view: HistoryView, earlier: readonly ExperimentRecord[], informative: ExperimentRecord[], withCounts: boolean): string[] {
  const lines = [''];
  // Without a recent list the earlier experiments are all of them, counted already above.
  if (withCounts) lines.push(`### ${earlier.length} earlier experiments, summarised`, `${verdictCounts(earlier)}.`);
  else lines.push('### Summary');
  if (informative.length > 0) {
    lines.push(withCounts ? 'The most informative of them, besides those above:' : 'The most informative experiments, besides those above:');
    for (const e of informative) lines.push(`- ${experimentLine(view, e)}`);
  }
  return lines.length > 2 || withCounts ? lines : [];
}

/** Kept ones best first, then near misses (discarded with a value) best first, then the latest failures. */
function mostInformative(view: HistoryView, list: readonly ExperimentRecord[], count: number): ExperimentRecord[] {
  if (count === 0) return [];
  const withMean = (kind: string) => view.byMean(list.filter((e) => e.verdict.kind === kind && e.mean !== undefined));
  const failures = list.filter(isFailure).reverse();
  const chosen = new Set([...withMean('kept'), ...withMean('discarded'), ...failures].slice(0, count));
  return list.filter((e) => chosen.has(e)); // back in history order, easier to follow
}

function experimentLine(view: HistoryView, e: ExperimentRecord): string {
  const from = e.parent ? ` ← ${e.parent}` : '';
  const other = e.other ? (e.intent === 'combine' ? ` with ${e.other}` : e.intent === 'debug' ? ` of ${e.other}` : '') : '';
  const intent = e.intent && e.intent !== 'improve' ? ` ${e.intent}${other}` : '';
  const value = e.mean !== undefined ? `, ${view.result(e)}` : '';
  return `${e.id}${from} [${e.thread}]${intent} ${verdictText(e)}${value}: ${oneLine(e.hypothesis, 140)}`;
}

function verdictText(e: ExperimentRecord): string {
  const v = e.verdict;
  switch (v.kind) {
    case 'kept':
      return `kept (better than its parent by ${num(v.improvement)})`;
    case 'discarded':
    case 'failed':
    case 'rejected':
    case 'flagged':
      return `${v.kind} (${oneLine(v.reason, 100)})`;
    default:
      return v.kind;
  }
}

function verdictCounts(list: readonly ExperimentRecord[]): string {
  const order = ['kept', 'discarded', 'failed', 'rejected', 'flagged', 'cancelled', 'baseline'];
  const counts = new Map<string, number>();
  for (const e of list) counts.set(e.verdict.kind, (counts.get(e.verdict.kind) ?? 0) + 1);
  return order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`).join(', ');
}

function reasonOf(e: ExperimentRecord): string {
  return 'reason' in e.verdict ? e.verdict.reason : e.verdict.kind;
}

// ---------------------------------------------------------------------------------------------
// What to do now, by intent
// ---------------------------------------------------------------------------------------------

function instruction(input: PromptInput, view: HistoryView, patchChars: number): string {
  switch (input.intent.kind) {
    case 'improve':
      return improveText(input, view);
    case 'debug':
      return debugText(input, input.intent.failed, patchChars);
    case 'draft':
      return draftText(input, view, input.intent.others);
    case 'combine':
      return combineText(input, view, input.intent, patchChars);
  }
}

function describeParent(input: PromptInput, view: HistoryView): string {
  const p = input.parent;
  const role = p.id === view.baseline?.id ? 'the baseline, ' : '';
  return `${p.id} (${role}${input.task.metric.name} ${view.result(p)})`;
}

function threadFocus(thread: ThreadInfo | undefined): string {
  if (!thread) return '';
  return thread.focus ? `Thread ${thread.id}, focus: ${oneLine(thread.focus, 200)}\n` : `Thread ${thread.id}\n`;
}

function improveText(input: PromptInput, view: HistoryView): string {
  const focus = input.thread?.focus ? " in this thread's focus" : '';
  return [
    '## What to do now: improve',
    `${threadFocus(input.thread)}Extend the parent ${describeParent(input, view)} with one next step${focus}: one change that should beat ${input.parent.id} by more than the noise. Build on what the history shows worked; do not repeat what failed or was discarded.`,
    `The files below are ${input.parent.id}'s.`,
  ].join('\n');
}

function debugText(input: PromptInput, failed: ExperimentRecord, patchChars: number): string {
  const lines = ['## What to do now: debug a failed experiment'];
  lines.push(`${threadFocus(input.thread)}Experiment ${failed.id} (extending ${input.parent.id}) ${failed.verdict.kind === 'rejected' ? 'was rejected' : failed.verdict.kind}.`);
  lines.push(`Its hypothesis: ${oneLine(failed.hypothesis, 400)}`);
  lines.push(`Why: ${oneLine(reasonOf(failed), 600)}`);
  const runErrors = failed.runs.filter((r) => r.error).map((r) => `- seed ${r.seed}, ${r.outcome}: ${oneLine(r.error!, 300)}`);
  if (runErrors.length > 0) lines.push('Its runs:', ...runErrors.slice(0, 4));
  const logTail = failed.meta?.logTail;
  if (typeof logTail === 'string' && logTail.trim()) lines.push('The last lines of its log:', fenced(lastLines(logTail, 30, 3000), 'text'));
  lines.push(patchChars > 0 && failed.patch.trim() ? `Its patch (against ${input.parent.id}):\n${fenced(clip(failed.patch, patchChars, 'patch'), 'diff')}` : '');
  lines.push(
    failed.commit
      ? 'The files below already contain this failed change. Edit them into a fixed version that keeps the idea and runs correctly within the budget.'
      : `The change never ran, so the files below are ${input.parent.id}'s, without it. Write the change again, correctly.`,
  );
  return lines.filter((l) => l !== '').join('\n');
}

function draftText(input: PromptInput, view: HistoryView, others: ThreadInfo[]): string {
  const threads = others.map((t) => `- ${t.id}: ${t.focus ? oneLine(t.focus, 160) : '(no focus given)'}`);
  return [
    '## What to do now: start a new line of research',
    `Start a new thread from ${describeParent(input, view)}: a change that explores an idea different from the existing threads.`,
    threads.length > 0 ? `The existing threads (do not repeat their ideas):\n${threads.join('\n')}` : 'There are no other threads yet.',
    "Your hypothesis becomes the new thread's focus, so say clearly which idea it explores.",
    `The files below are ${input.parent.id}'s.`,
  ].join('\n');
}

function combineText(input: PromptInput, view: HistoryView, intent: Extract<ProposalIntent, { kind: 'combine' }>, patchChars: number): string {
  const other = intent.other;
  const gain = other.verdict.kind === 'kept' ? `, better than its parent by ${num(other.verdict.improvement)}` : '';
  const lines = [
    '## What to do now: combine two improvements',
    `Bring the improvement of ${other.id} (thread ${other.thread}, ${input.task.metric.name} ${view.result(other)}${gain}) into the parent ${describeParent(input, view)}. The combination must beat both to be kept.`,
    `${other.id}'s hypothesis: ${oneLine(other.hypothesis, 400)}`,
    `${input.parent.id}'s hypothesis: ${oneLine(input.parent.hypothesis, 400)}`,
  ];
  if (intent.merge.clean) {
    if (patchChars > 0 && intent.merge.patch?.trim()) lines.push(`git merged the two cleanly. The merged change against ${input.parent.id}:\n${fenced(clip(intent.merge.patch, patchChars, 'patch'), 'diff')}`);
    else lines.push('git merged the two cleanly.');
    lines.push(
      'The files below already include the merged change. Check that the two changes work together (no setting changed twice, no duplicated work, the run still fits the budget) and fix or improve the combination. If it is right as it is, write `none` under ### Edits.',
    );
  } else {
    lines.push(
      "git could not merge them cleanly: where the two changes collide, the files below hold git's conflict markers (<<<<<<<, =======, >>>>>>>). Resolve every conflict so that the result keeps both improvements. Your edits must remove every conflict marker: make each SEARCH cover a whole conflict, from its <<<<<<< line to its >>>>>>> line.",
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

function lastLines(text: string, lines: number, chars: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n').slice(-chars);
}

function runsWithValue(e: ExperimentRecord): number {
  return e.runs.filter((r) => r.value !== undefined).length;
}
