// The engine's side of the harness protocol (remote-runner/PROTOCOL.md): where the harness lives,
// how a train run is invoked, and a reader that validates each JSON line against the protocol's
// schema and folds the events into a run result. Every runner — local, SSH, Slurm — reads runs
// through this one reader.
import Ajv from 'ajv';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import protocolSchema from '../../../remote-runner/protocol.schema.json';
import picomatch from 'picomatch';
import type { AuditFinding, KernelSpec, MetricSource, RunResult, TrainContract } from '../types';

export const PROTOCOL_VERSION = 1;

/** The remote-runner folder: beside dist/ in the package, or at the repo root in development. */
export function harnessRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'remote-runner');
    if (existsSync(path.join(candidate, 'ratchet_harness', '__main__.py'))) return candidate;
    if (dir === path.dirname(dir)) throw new Error('the harness (remote-runner/ratchet_harness) is missing from this installation');
  }
}

export interface TrainInvocation {
  experimentId: string;
  seed: number;
  budgetSeconds: number;
  /** Absolute working folder of the command. */
  cwd: string;
  /** Protected files, relative to `cwd`. */
  protect: string[];
  command: string;
  /** Between SIGTERM and SIGKILL of the run's process group. */
  killGraceSeconds?: number;
  /** The run's own folder (the worktree's root): writes elsewhere are reported. */
  runRoot?: string;
  /** The evaluation contract, its paths relative to `cwd` (see placeContract). */
  contract?: TrainContract;
  /** Environment variables the run must not see. */
  scrubEnv?: string[];
}

/** Arguments after the interpreter: `-m ratchet_harness train … -- command`. */
export function trainArgs(inv: TrainInvocation): string[] {
  const args = ['-m', 'ratchet_harness', 'train', '--experiment-id', inv.experimentId, '--budget-seconds', String(inv.budgetSeconds), '--cwd', inv.cwd];
  if (inv.seed >= 0) args.push('--seed', String(inv.seed));
  for (const p of inv.protect) args.push('--protect', p);
  if (inv.killGraceSeconds !== undefined) args.push('--kill-grace-seconds', String(inv.killGraceSeconds));
  if (inv.runRoot !== undefined) args.push(`--run-root=${inv.runRoot}`);
  args.push(...scrubArgs(inv.scrubEnv), ...contractArgs(inv.contract));
  // The harness hands the words after `--` to `/bin/sh -c`; the task's command is the user's own.
  args.push('--', inv.command);
  return args;
}

export function scrubArgs(names: readonly string[] | undefined): string[] {
  return (names ?? []).map((n) => `--scrub-env=${n}`);
}

/** The contract's harness options (PROTOCOL.md, "train"); `=` joins each value to its option, so
 * a path that starts with `-` is never read as one. */
export function contractArgs(c: TrainContract | undefined): string[] {
  if (!c) return [];
  const args: string[] = [];
  if (c.metric) args.push(`--metric=${c.metric}`);
  if (c.evaluate) args.push(`--evaluate=${c.evaluate}`);
  if (c.trainingBudgetSeconds !== undefined) args.push(`--training-budget-seconds=${c.trainingBudgetSeconds}`);
  if (c.trainingAllowanceSeconds !== undefined) args.push(`--training-allowance-seconds=${c.trainingAllowanceSeconds}`);
  for (const p of c.evaluationOnly ?? []) args.push(`--evaluation-only=${p}`);
  if (c.probes && c.probes.length === 0) args.push('--no-probes');
  for (const p of c.probes ?? []) args.push(`--probe=${p}`);
  if (c.guard && 'function' in c.guard) {
    args.push(`--guard-function=${c.guard.function}`);
    if (c.guard.metric) args.push(`--guard-metric=${c.guard.metric}`);
  } else if (c.guard) {
    args.push(`--guard-command=${c.guard.command}`, `--guard-metric=${c.guard.metric}`);
  }
  return args;
}

/**
 * The contract as the harness sees it from the run's folder: the evaluation's path and the
 * evaluation-only files (the tracked files their globs match, from `files`) relative to `cwd`
 * (repo-relative), each prefixed `./` as the protected files are.
 */
export function placeContract(contract: TrainContract | undefined, cwd: string, files: readonly string[]): TrainContract | undefined {
  if (!contract) return undefined;
  const rel = (p: string) => `./${path.posix.relative(cwd || '.', p) || '.'}`;
  const placed: TrainContract = { ...contract };
  if (contract.evaluate) {
    const i = contract.evaluate.lastIndexOf(':');
    placed.evaluate = `${rel(contract.evaluate.slice(0, i))}${contract.evaluate.slice(i)}`;
  }
  if (contract.evaluationOnly) {
    const matches = picomatch([...contract.evaluationOnly], { dot: true });
    placed.evaluationOnly = files.filter((f) => matches(f)).map(rel);
  }
  return placed;
}

export interface KernelInvocation {
  experimentId: string;
  /** The task with its paths as the harness should open them (absolute, or relative to the
   * harness's working folder). */
  kernel: KernelSpec;
  budgetSeconds: number;
  /** Folder the protected paths are relative to. */
  cwd: string;
  protect: string[];
  /** CUDA_VISIBLE_DEVICES for the workers (the slot's GPU). */
  gpu?: string;
  env?: Record<string, string>;
  /** The run's seed: each repeat checks the candidate on fresh random inputs. */
  seed?: number;
  /** Environment variables the workers must not see. */
  scrubEnv?: string[];
}

/** Arguments after the interpreter: `-m ratchet_harness kernel …` (PROTOCOL.md, "kernel"). */
export function kernelArgs(inv: KernelInvocation): string[] {
  const k = inv.kernel;
  // `=` joins each value to its option, so a path that starts with `-` is never read as one.
  const args = ['-m', 'ratchet_harness', 'kernel', `--experiment-id=${inv.experimentId}`];
  args.push(k.problem !== undefined ? `--problem=${k.problem}` : `--task=${k.task}`, `--candidate=${k.candidate}`);
  if (k.device) args.push(`--device=${k.device}`);
  if (inv.gpu !== undefined) args.push(`--gpu=${inv.gpu}`);
  if (inv.seed !== undefined && inv.seed > 0) args.push(`--seed=${inv.seed}`);
  // The task's budget caps the whole run (check and time workers together), not each worker.
  args.push(`--budget-seconds=${inv.budgetSeconds}`, `--worker-timeout=${inv.budgetSeconds}`, `--cwd=${inv.cwd}`);
  for (const [key, value] of Object.entries(inv.env ?? {})) args.push(`--env=${key}=${value}`);
  args.push(...scrubArgs(inv.scrubEnv));
  if (inv.protect.length > 0) args.push('--protect', ...inv.protect.map((f) => (f.startsWith('/') ? f : `./${f}`)));
  return args;
}

/**
 * Kernel-mode checks whose failure means the candidate is wrong, not dishonest: it does not
 * import, computes the wrong answer, returns the wrong kind of value, or kills its worker. Such a
 * run failed (so a proposer can debug it); every other failed check is a suspected hack.
 */
const WRONG_NOT_SUSPECT: Record<string, string> = {
  'kernel:load': 'does not load',
  'kernel:correctness': 'incorrect',
  'kernel:output_type': 'wrong output type',
  'kernel:crash': 'crashed',
  // Train mode: the task's evaluation function never ran (or returned no number), so the run
  // has no earned metric. Printing one anyway is a different check, and a hack.
  'train:evaluator': 'no earned metric',
};

const ajv = new Ajv({ allErrors: false, strict: false });
const validateEvent = ajv.compile(protocolSchema);

interface Event {
  protocol: number;
  type: string;
  experiment_id: string;
  seq: number;
  time: number;
  [key: string]: unknown;
}

export interface HarnessOutcome {
  reason: 'ok' | 'failed' | 'timeout' | 'cancelled' | 'error';
  exitCode: number | null;
  signal: string | null;
  message?: string;
}

export interface HarnessSink {
  /** A line of the run's own output (stdout or stderr), without its newline. */
  output(line: string): void;
  /** The harness started the command (its `start` event; host clock, seconds). */
  started?(time: number): void;
}

/**
 * Folds a harness's stdout into what a run produced. Feed it bytes in any pieces (a line or a
 * UTF-8 character may be cut anywhere); read the fields at the end. `offset` counts the bytes of
 * complete lines consumed, so a runner that re-attaches to a run's output file resumes there.
 */
export class ProtocolReader {
  readonly metrics: Record<string, number> = {};
  readonly audit: AuditFinding[] = [];
  /** Why the candidate is wrong (kernel mode's correctness-class checks), when it is. */
  failure: string | undefined;
  /** Where each metric came from, as the harness said (`output`, `evaluator`, `harness`). */
  readonly sources: Record<string, MetricSource> = {};
  /** The guard metric's value, when the harness reported one. */
  guard: number | undefined;
  end: HarnessOutcome | undefined;
  /** The host's clock when the harness reported the end (seconds since the epoch). */
  endTime: number | undefined;
  /** Output lines the harness dropped past its log cap (its `resource` event says how many). */
  droppedLines = 0;
  /** Bytes of complete lines consumed. */
  offset = 0;
  /** Lines that were not valid protocol events, with the reason (the first few). */
  readonly violations: string[] = [];
  private partial: Buffer = Buffer.alloc(0);
  private nextSeq = 0;
  private mode: string | undefined;

  constructor(
    private readonly experimentId: string,
    private readonly sink: HarnessSink,
    /** Repo-relative folder the harness's paths are relative to, for audit findings. */
    private readonly cwdInRepo: string,
  ) {}

  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let buf = this.partial.length > 0 ? Buffer.concat([this.partial, bytes]) : bytes;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      this.offset += nl + 1;
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      if (line.trim()) this.line(line);
    }
    this.partial = Buffer.from(buf);
  }

  /** The stream ended: a last line without a newline is read too. */
  finish(): void {
    const rest = this.partial.toString('utf8');
    this.partial = Buffer.alloc(0);
    if (rest.trim()) this.line(rest);
  }

  /** Forgets a partly received line: the next attach starts again at `offset`. */
  resetPartial(): void {
    this.partial = Buffer.alloc(0);
  }

  /** What the run produced, for its RunResult: metrics and where they came from, the guard, the
   * time to the evaluation, the audit findings. */
  results(): Pick<RunResult, 'metrics' | 'metricSources' | 'guard' | 'secondsToEvaluation' | 'trainingSeconds' | 'audit'> {
    const out: Pick<RunResult, 'metrics' | 'metricSources' | 'guard' | 'secondsToEvaluation' | 'trainingSeconds' | 'audit'> = {
      metrics: this.metrics,
      metricSources: this.sources,
      audit: this.audit,
    };
    if (this.guard !== undefined) out.guard = this.guard;
    const toEvaluation = this.metrics.seconds_to_evaluation;
    if (this.sources.seconds_to_evaluation === 'harness' && toEvaluation !== undefined) out.secondsToEvaluation = toEvaluation;
    const training = this.metrics.seconds_of_training;
    if (this.sources.seconds_of_training === 'harness' && training !== undefined) out.trainingSeconds = training;
    return out;
  }

  /** The metrics as output lines, for a tail whose own lines the harness stopped forwarding. */
  metricLines(): string {
    return Object.entries(this.metrics).map(([k, v]) => `${k}: ${v}`).join('\n');
  }

  private violation(why: string, line: string): void {
    if (this.violations.length < 5) this.violations.push(`${why}: ${line.slice(0, 120)}`);
  }

  private line(line: string): void {
    let event: Event;
    try {
      event = JSON.parse(line) as Event;
    } catch {
      // Not an event: keep it as output, so nothing the host printed is lost.
      this.violation('not JSON', line);
      this.sink.output(line);
      return;
    }
    if (event && typeof event === 'object' && event.protocol !== PROTOCOL_VERSION) {
      // PROTOCOL.md: a reader refuses other versions rather than guess what the fields mean.
      this.violation(`protocol version ${String(event.protocol)}, expected ${PROTOCOL_VERSION}`, line);
      this.end ??= { reason: 'error', exitCode: null, signal: null, message: `the harness speaks protocol ${String(event.protocol)}; this engine reads ${PROTOCOL_VERSION}` };
      return;
    }
    if (!validateEvent(event)) {
      this.violation(ajv.errorsText(validateEvent.errors), line);
      return;
    }
    if (event.experiment_id !== this.experimentId) {
      this.violation(`event for ${event.experiment_id}, expected ${this.experimentId}`, line);
      return;
    }
    if (event.seq !== this.nextSeq) this.violation(`lost lines: seq ${event.seq} after ${this.nextSeq - 1}`, line);
    this.nextSeq = event.seq + 1;
    this.apply(event);
  }

  private apply(e: Event): void {
    switch (e.type) {
      case 'start':
        this.mode = typeof e.mode === 'string' ? e.mode : undefined;
        this.sink.started?.(e.time);
        break;
      case 'log':
        this.sink.output(e.stream === 'harness' ? `[harness] ${String(e.text)}` : String(e.text));
        break;
      case 'metric': {
        // JSON has no NaN: the harness writes a non-finite value as null. A per-shape figure
        // (kernel mode) is kept under `name/shape`, so it never stands in for the run's own.
        const value = typeof e.value === 'number' ? e.value : NaN;
        if (e.source === 'guard') {
          this.guard = value;
          break;
        }
        const name = typeof e.shape === 'string' ? `${String(e.name)}/${e.shape}` : String(e.name);
        // What the evaluator returned is the metric; a line the run printed later cannot replace it.
        if (this.sources[name] === 'evaluator' && e.source === 'output') break;
        this.metrics[name] = value;
        this.sources[name] = e.source as MetricSource;
        break;
      }
      case 'audit':
        if (e.verdict === 'fail' && (WRONG_NOT_SUSPECT[`${this.mode}:${String(e.check)}`] !== undefined)) {
          this.failure ??= this.mode === 'kernel' ? wrongCandidate(String(e.check), String(e.message), e.evidence) : String(e.message);
        } else if (e.verdict === 'fail' || e.verdict === 'warn') this.audit.push(...this.findings(e));
        break;
      case 'resource':
        if (typeof e.dropped_log_lines === 'number') this.droppedLines = e.dropped_log_lines;
        break;
      case 'end':
        this.endTime = e.time;
        this.end = {
          reason: e.reason as HarnessOutcome['reason'],
          exitCode: (e.exit_code as number | null) ?? null,
          signal: (e.signal as string | null) ?? null,
          message: e.message as string | undefined,
        };
        break;
    }
  }

  private findings(e: Event): AuditFinding[] {
    const severity = e.verdict === 'fail' ? 'hack' : 'warning';
    const evidence = (e.evidence ?? {}) as Record<string, unknown>;
    if (e.check === 'protected_files' && e.verdict === 'fail') {
      // Runners may name protected files `./path` so that none reads as an option.
      const toRepo = (p: string) => path.posix.normalize(path.posix.join(this.cwdInRepo || '.', p.replace(/^\.\//, '')));
      const files = ['changed', 'removed', 'added'].flatMap((k) => (Array.isArray(evidence[k]) ? (evidence[k] as string[]) : [])).map(toRepo);
      if (files.length > 0) {
        return files.map((file) => ({ check: 'protected-file-changed', severity, message: `the run changed protected file ${file}`, file, evidence: String(e.message) }));
      }
    }
    const finding: AuditFinding = { check: String(e.check), severity, message: String(e.message), evidence: JSON.stringify(evidence).slice(0, 500) };
    const at = this.mode === 'train' ? locate(evidence) : undefined;
    if (at) Object.assign(finding, at);
    return [finding];
  }
}

/**
 * The line of the repository a train-mode finding points at, from its evidence: the frame that
 * opened a file or started a process, the line that assigned a changed name, where a replacement
 * function was defined. The harness names files relative to the run's folder, the repository's
 * root; a path outside it (a library) points nowhere.
 */
function locate(evidence: Record<string, unknown>): { file: string; line: number } | undefined {
  const places: unknown[] = [];
  const each = (key: string, field: string) => {
    const list = evidence[key];
    if (Array.isArray(list)) for (const item of list) if (item && typeof item === 'object') places.push((item as Record<string, unknown>)[field]);
  };
  each('accesses', 'where');
  each('writes', 'where');
  const started = evidence.started;
  if (Array.isArray(started)) for (const p of started as Record<string, unknown>[]) if (Array.isArray(p?.problems) && p.problems.length > 0) places.push(p.where);
  each('changes', 'assigned_at');
  const changes = evidence.changes;
  if (Array.isArray(changes)) for (const c of changes as Record<string, unknown>[]) places.push(/defined at (\S+:\d+)$/.exec(String(c?.after ?? ''))?.[1]);
  for (const place of places) {
    const m = typeof place === 'string' ? /^([^<:/][^:]*):(\d+)$/.exec(place) : null;
    if (m && !m[1]!.startsWith('..')) return { file: m[1]!, line: Number(m[2]) };
  }
  return undefined;
}

/** "incorrect on shape 64x256: wrong result: 3 of 64 elements off, max error 0.31". */
function wrongCandidate(check: string, message: string, evidence: unknown): string {
  const failures = (evidence as { failures?: { shape?: unknown }[] } | undefined)?.failures;
  const shape = Array.isArray(failures) && typeof failures[0]?.shape === 'string' ? failures[0].shape : undefined;
  const where = shape !== undefined && !message.includes(shape) ? ` on shape ${shape}` : '';
  return `${WRONG_NOT_SUSPECT[`kernel:${check}`]}${where}: ${message}`;
}
