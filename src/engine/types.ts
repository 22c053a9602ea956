// The engine's shared vocabulary: tasks, experiments and the interfaces that proposers and
// runners implement. Values are validated where they enter (task files, journal lines,
// proposals) and trusted inside.

export type Direction = 'lower' | 'higher';

export interface MetricSpec {
  /** Name as printed by the run, e.g. `val_bpb`. */
  name: string;
  direction: Direction;
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
  /** Shell command, written by the user in the task file or inferred; runs in `cwd`. */
  run: string;
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
}

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
  | { kind: 'cancelled' };

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
  runs: RunRecord[];
  /** Mean of the runs' values; the number decisions use. */
  mean?: number;
  /** Sample standard deviation over the runs (0 for a single run). */
  spread?: number;
  audit: AuditFinding[];
  verdict: Verdict;
  startedAt: string;
  finishedAt: string;
}

/** What a proposer returns: a hypothesis in words and a patch against the parent. */
export interface Proposal {
  hypothesis: string;
  /** Unified diff, paths relative to the repo root (a/ and b/ prefixes allowed). */
  patch: string;
  meta?: Record<string, unknown>;
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
}

export interface Proposer {
  readonly name: string;
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
  command: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Glob patterns (repo-relative) of files the run must not change; checked around the run. */
  protected: string[];
  /** Absolute path of the log file to write (on this machine). */
  logPath: string;
  slot: Slot;
  signal: AbortSignal;
}

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
  /** Metrics the harness read from the output (NaN for nan/inf); absent: parse `outputTail`. */
  metrics?: Record<string, number>;
  /** What the runner saw around the run: protected files changed, the harness's own checks. */
  audit: AuditFinding[];
  /** Where it ran, for the record (host, GPU). */
  host?: string;
}

export interface Runner {
  readonly name: string;
  slots(): Slot[];
  run(req: RunRequest): Promise<RunResult>;
}
