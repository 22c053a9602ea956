// The engine's shared vocabulary: tasks, experiments and the interfaces that proposers and
// runners implement. Values are validated where they enter (task files, journal lines,
// proposals) and trusted inside.

export type Direction = 'lower' | 'higher';

export interface MetricSpec {
  /** Name as printed by the run, e.g. `val_bpb`. */
  name: string;
  direction: Direction;
  /** A value the metric cannot honestly pass (e.g. a loss below the data's entropy): a result
   * past it is held for review as suspect, never kept automatically. */
  bound?: number;
}

/**
 * A second evaluation the run cannot see: on data that exists only on the host running the
 * harness, never in the repository, a patch or a prompt. Its metric must move with the main one.
 */
export type GuardSpec =
  /** A function in a file on the host (absolute path), called by the harness with the same
   * arguments as the task's evaluator, right after it. Its return value is the guard metric. */
  | { function: string; metric?: string }
  /** A command run in the run's folder after the training run ended; its output names the metric. */
  | { command: string; metric: string };

/** Model probes the harness runs on what the evaluator receives (remote-runner/PROTOCOL.md). */
export type Probe = 'causal-lm';

/**
 * A GPU kernel task run through the harness's `kernel` mode (remote-runner/PROTOCOL.md): the
 * candidate is checked against the reference for correctness and honesty, then timed. Exactly
 * one of `task` and `problem` is set. Paths are repo-relative in a Task.
 */
export interface KernelSpec {
  /** Ratchet task folder: task.json + a KernelBench reference (see kernels/README.md). */
  task?: string;
  /** SOL-ExecBench problem folder: definition.json + workload.jsonl (+ roofline.json). */
  problem?: string;
  /** The file the harness checks and times: defines ModelNew (or a solution.json with `problem`). */
  candidate: string;
  /** Where the candidate runs; absent: the harness's choice (cuda when present, else cpu). */
  device?: 'cuda' | 'cpu';
}

/** A task with every path resolved: absolute folders, repo-relative file paths (POSIX). */
export interface Task {
  name: string;
  description?: string;
  /** The git repository's root (absolute). */
  repoRoot: string;
  /** The task file, when the task came from one (absolute). */
  taskFile?: string;
  /** Files a proposal may change, relative to the repo root. */
  editable: string[];
  /** Shell command, written by the user in the task file or inferred; runs in `cwd`. Absent
   * only for a kernel task, whose runs are the harness's own kernel check. */
  run?: string;
  /** Set for a kernel task: each run is the harness's `kernel` mode instead of `run`. */
  kernel?: KernelSpec;
  /** Working folder of the run, relative to the repo root ('' for the root). */
  cwd: string;
  metric: MetricSpec;
  budgetSeconds: number;
  /** Glob patterns, relative to the repo root, that no proposal and no run may change. */
  protected: string[];
  /** Baseline runs used to estimate the noise. */
  repeats: number;
  /** Command run once in a fresh worktree before the baseline (e.g. data preparation). */
  setup?: string;
  /** Extra environment for every run. */
  env?: Record<string, string>;
  /** The protected function that computes the metric, `path:function` (path repo-relative): the
   * harness captures what it returns, and that value is the metric. Absent: the metric is
   * self-reported (read from what the run prints) and every result says so. */
  evaluate?: string;
  /** Seconds of training the task promises before it evaluates, measured by the harness from the
   * start of the run to the first evaluation call. */
  trainingBudgetSeconds?: number;
  /** Seconds past `trainingBudgetSeconds` a run may take (start-up, compilation) before it is
   * flagged; default max(10 s, a quarter of the budget). */
  trainingAllowanceSeconds?: number;
  /** Globs (repo-relative) of files only the evaluator may read: held-out data. */
  evaluationOnly?: string[];
  /** Probes run on the model the evaluator receives. Absent: each probe runs where it applies;
   * `[]` switches them off. */
  probes?: Probe[];
  guard?: GuardSpec;
}

export type ExperimentId = string;

/** One run of one experiment with one seed. */
export interface RunRecord {
  seed: number;
  /** The metric value; absent when the run failed to produce it. */
  value?: number;
  /** Every `name: value` metric the run reported. */
  metrics: Record<string, number>;
  exitCode: number | null;
  outcome: 'ok' | 'failed' | 'timeout' | 'cancelled' | 'no-metric';
  error?: string;
  durationMs: number;
  /** Log file, relative to the search folder. */
  log: string;
  slot: string;
  /** Bytes sent to a remote host for this run. */
  bytesSent?: number;
  /** Where `value` came from: `evaluator` (captured by the harness from the task's protected
   * evaluation function), `harness` (measured by the harness, kernel mode) or `output` (what the
   * run printed: self-reported). Absent in records written before sources were kept: `output`. */
  source?: MetricSource;
  /** The guard metric of this run, when the task has a guard. */
  guard?: number;
  /** Seconds from the start of the run to the evaluation call that gave its metric, by the
   * harness's clock. */
  secondsToEvaluation?: number;
  /** Seconds from the run's first optimizer step to that evaluation call (torch 2 and later). */
  trainingSeconds?: number;
}

export type MetricSource = 'evaluator' | 'harness' | 'output';

export interface AuditFinding {
  check: string;
  severity: 'hack' | 'warning';
  message: string;
  /** Repo-relative file and 1-based line the finding points at, when known. */
  file?: string;
  line?: number;
  evidence?: string;
}

export type Verdict =
  | { kind: 'baseline' }
  | { kind: 'kept'; improvement: number; threshold: number }
  | { kind: 'discarded'; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'flagged'; reason: string }
  /** Better than its parent, but too good to be true (a gain far beyond any kept so far, a value
   * past the metric's bound) or doubted by the auditor model: held until a person accepts it
   * (`ratchet accept ID`); it never becomes the best before that. */
  | { kind: 'suspect'; reason: string; improvement: number; threshold: number }
  | { kind: 'cancelled' };

/** A second opinion on an experiment that would be kept, from a language model shown its diff,
 * the audit evidence and a catalogue of known hacks. */
export interface ModelReview {
  model: string;
  verdict: 'keep' | 'flag';
  reason: string;
  /** Set when the model gave no usable answer (an error, a timeout, a spent budget, two unreadable
   * answers): the verdict is then 'keep' by default, not the model's judgement. */
  unusable?: true;
}

export interface ExperimentRecord {
  id: ExperimentId;
  /** Undefined only for the baseline. */
  parent?: ExperimentId;
  thread: string;
  hypothesis: string;
  proposer: string;
  /** Unified diff against the parent's commit; empty for the baseline. */
  patch: string;
  /** Commit under refs/ratchet/<search>/<id>. Absent when the patch was rejected. */
  commit?: string;
  /** Proposer-specific data, e.g. the hyper-parameter values `tune` chose. */
  meta?: Record<string, unknown>;
  /** Why the policy asked for it: improve, debug, draft or combine (absent: improve). */
  intent?: ProposalIntent['kind'];
  /** For a combination: the other experiment it brings in (it must beat both to be kept); for a
   * debug: the failed experiment it fixes. */
  other?: ExperimentId;
  /** What the model calls behind this experiment cost. */
  usage?: ProposalUsage;
  runs: RunRecord[];
  /** Mean of the runs' values; the number decisions use. */
  mean?: number;
  /** Sample standard deviation over the runs (0 for a single run). */
  spread?: number;
  audit: AuditFinding[];
  verdict: Verdict;
  /** The auditor model's opinion, when one was asked. */
  review?: ModelReview;
  /** Set when a person accepted a suspect result (it is then kept). */
  accepted?: { at: string; by: string; reason: string };
  startedAt: string;
  finishedAt: string;
}

/** What the auditor model is shown about an experiment that would be kept. */
export interface ReviewRequest {
  task: Task;
  experiment: ExperimentRecord;
  parent: ExperimentRecord;
  /** The experiment's change against its parent (unified diff). */
  patch: string;
  signal: AbortSignal;
}

/** A second auditor: asked before an experiment is kept; never the only line of defence. */
export interface ExperimentReviewer {
  review(req: ReviewRequest): Promise<{ review: ModelReview; usage?: ProposalUsage }>;
}

/** What a model-driven proposal cost; recorded on the experiment it produced. */
export interface ProposalUsage {
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** What a proposer returns: a hypothesis in words and a patch against the parent. */
export interface Proposal {
  hypothesis: string;
  /** Unified diff, paths relative to the repo root (a/ and b/ prefixes allowed). */
  patch: string;
  meta?: Record<string, unknown>;
  /** Set when the proposer tried and could not produce a usable patch (e.g. a model's answer
   * that did not apply even after it was shown the error): recorded as a rejected experiment. */
  failure?: string;
  /** The research notes after this proposal, when the proposer keeps them (they replace the old). */
  notes?: string;
  usage?: ProposalUsage;
}

/** A line of research: experiments that extend each other towards one idea. */
export interface ThreadInfo {
  id: string;
  /** What the thread is about, in a few words (the hypothesis that started it). */
  focus?: string;
}

/** What the search policy asks of a proposal. */
export type ProposalIntent =
  /** Extend the parent, a good node of the thread, with a next step. */
  | { kind: 'improve' }
  /** Fix `failed`, a child of the parent that crashed, timed out or was rejected; its files are the
   * edit base when it has a commit, and the resulting patch is against the parent. */
  | { kind: 'debug'; failed: ExperimentRecord }
  /** Start a new line of research from the parent, different from the threads in `others`. */
  | { kind: 'draft'; others: ThreadInfo[] }
  /** Bring `other`'s improvement into the parent. `merge` is git's three-way merge of the two:
   * clean (then `patch` is the combined change against the parent) or with conflicts (then
   * `conflicted` holds each conflicted file with git's markers, for the proposer to resolve). */
  | { kind: 'combine'; other: ExperimentRecord; merge: MergeResult };

export interface MergeResult {
  clean: boolean;
  /** The merged change as a unified diff against the parent (clean merges only). */
  patch?: string;
  conflicted?: { path: string; content: string }[];
}

export interface ProposalContext {
  task: Task;
  /** The experiment to extend (the current best). */
  parent: ExperimentRecord;
  /** Reads a file as it is in an experiment's commit (repo-relative path). */
  readFile(experiment: ExperimentId, path: string): Promise<string>;
  /** Every finished experiment so far, in order, baseline first. */
  history: readonly ExperimentRecord[];
  /** Proposals handed out but not finished yet, so a proposer does not repeat itself. */
  pending: readonly Proposal[];
  /** Deterministic per-search random numbers in [0, 1). */
  random(): number;
  signal: AbortSignal;
  /** What the search policy asks for (absent: improve the parent). */
  intent?: ProposalIntent;
  /** The thread this proposal belongs to. */
  thread?: ThreadInfo;
  /** The search's research notes so far ('' at the start). */
  notes?: string;
  /** The noise level: the baseline's standard deviation of the metric. */
  noise?: number;
}

export interface Proposer {
  readonly name: string;
  /** How many propose() calls may run at once (default 1: each sees every earlier one as pending). */
  readonly concurrency?: number;
  /** Whether the proposer can follow intents other than improve (debug, draft, combine). */
  readonly followsIntents?: boolean;
  /** 'slow' when a proposal takes seconds or more (a model call): the search then asks for
   * proposals ahead of need, from the moment the baseline starts. Default 'fast'. */
  readonly latency?: 'fast' | 'slow';
  /** A second auditor sharing this proposer's model and budget (the `llm` proposer's, unless switched off). */
  readonly reviewer?: ExperimentReviewer;
  /** A new proposal, or null when the proposer has nothing more to try. */
  propose(ctx: ProposalContext): Promise<Proposal | null>;
}

/** A place a run can execute: a local process slot, later a GPU of a remote host. */
export interface Slot {
  id: string;
  /** Extra environment for runs in this slot, e.g. CUDA_VISIBLE_DEVICES. */
  env: Record<string, string>;
}

export interface RunRequest {
  experimentId: ExperimentId;
  seed: number;
  /** The repository (absolute); the commit to run lives in it. */
  repoRoot: string;
  /** The experiment's commit. */
  commit: string;
  /** The search's baseline commit: a remote runner ships it once, then only `base..commit` diffs. */
  baseCommit: string;
  /** Working folder of the command, relative to the repository root. */
  cwd: string;
  /** The shell command of a train run (or the setup); ignored when `kernel` is set. */
  command: string;
  /** A kernel run: the harness's `kernel` mode checks and times this candidate (repo-relative
   * paths, resolved in the run's own copy of the commit). */
  kernel?: KernelSpec;
  env: Record<string, string>;
  /** What the harness checks inside a train run; absent for the setup command and kernel runs. */
  contract?: TrainContract;
  /** Environment variables the run must not see (model keys, names the user listed). */
  scrubEnv?: string[];
  /** Blanks the search's known secrets from the run's output and the result's messages. */
  redact?: (text: string) => string;
  timeoutMs: number;
  /** Glob patterns (repo-relative) of files the run must not change; checked around the run. */
  protected: string[];
  /** Absolute path of the log file to write (on this machine). */
  logPath: string;
  slot: Slot;
  signal: AbortSignal;
}

/**
 * A train run's evaluation contract, as the harness enforces it from inside the run's Python
 * processes (remote-runner/PROTOCOL.md, "train"). Paths are repo-relative.
 */
export type TrainContract = Pick<Task, ContractField> & {
  /** The metric's name: the evaluator's value is reported under it, and a printed line with it is
   * compared with the evaluator's value. */
  metric: string;
};

/** The task's fields that make its evaluation contract (a task file states them the same way). */
export type ContractField = 'evaluate' | 'trainingBudgetSeconds' | 'trainingAllowanceSeconds' | 'evaluationOnly' | 'probes' | 'guard';

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** The last part of the output, decoded as UTF-8 with replacement, for metric parsing. */
  outputTail: string;
  /** Bytes of output that did not fit in the log's cap. */
  droppedBytes: number;
  /** Set when the command could not be started at all. */
  spawnError?: string;
  /** Set when the harness judged the candidate wrong rather than suspect (kernel mode: it does
   * not load, computes wrong results, returns the wrong type, or crashes its worker): the run
   * failed for this reason, whatever its exit code. */
  failure?: string;
  /** Metrics the harness read from the output (NaN for nan/inf); absent: parse `outputTail`. */
  metrics?: Record<string, number>;
  /** Where each metric came from when the harness said so (`evaluator`, `harness`, `output`). */
  metricSources?: Record<string, MetricSource>;
  /** The guard metric's value, when the task has a guard and it ran. */
  guard?: number;
  /** Seconds from the start of the run to the evaluation that gave the metric (harness clock). */
  secondsToEvaluation?: number;
  /** Seconds from the first optimizer step to that evaluation (harness clock). */
  trainingSeconds?: number;
  /** What the runner saw around the run: protected files changed, the harness's own checks. */
  audit: AuditFinding[];
  /** Where it ran, for the record (host, GPU). */
  host?: string;
  /** The slot that really ran it, when the runner placed it itself (a remote host's GPU). */
  slot?: string;
  /** Bytes sent to the host for this run (a remote runner); set-up transfers are not counted. */
  bytesSent?: number;
}

export interface Runner {
  readonly name: string;
  slots(): Slot[];
  run(req: RunRequest): Promise<RunResult>;
}
