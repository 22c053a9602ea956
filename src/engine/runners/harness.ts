// The engine's side of the harness protocol (remote-runner/PROTOCOL.md): where the harness lives,
// how a train run is invoked, and a reader that validates each JSON line against the protocol's
// schema and folds the events into a run result. Every runner — local, SSH, Slurm — reads runs
// through this one reader.
import Ajv from 'ajv';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import protocolSchema from '../../../remote-runner/protocol.schema.json';
import type { AuditFinding } from '../types';

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
}

/** Arguments after the interpreter: `-m ratchet_harness train … -- command`. */
export function trainArgs(inv: TrainInvocation): string[] {
  const args = ['-m', 'ratchet_harness', 'train', '--experiment-id', inv.experimentId, '--budget-seconds', String(inv.budgetSeconds), '--cwd', inv.cwd];
  if (inv.seed >= 0) args.push('--seed', String(inv.seed));
  for (const p of inv.protect) args.push('--protect', p);
  if (inv.killGraceSeconds !== undefined) args.push('--kill-grace-seconds', String(inv.killGraceSeconds));
  // The harness hands the words after `--` to `/bin/sh -c`; the task's command is the user's own.
  args.push('--', inv.command);
  return args;
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validateEvent = ajv.compile(protocolSchema);

interface Event {
  protocol: number;
  type: string;
  experiment_id: string;
  seq: number;
  [key: string]: unknown;
}

export interface HarnessOutcome {
  reason: 'ok' | 'failed' | 'timeout' | 'cancelled' | 'error';
  exitCode: number | null;
  signal: string | null;
  message?: string;
}

/** Folds a harness's stdout into what a run produced. Feed it bytes; read the fields at the end. */
export class ProtocolReader {
  readonly metrics: Record<string, number> = {};
  readonly audit: AuditFinding[] = [];
  end: HarnessOutcome | undefined;
  /** Lines that were not valid protocol events, with the reason (the first few). */
  readonly violations: string[] = [];
  private pending = '';
  private nextSeq = 0;

  constructor(
    private readonly experimentId: string,
    /** Receives the run's own output lines (stdout/stderr of the command), for the log and the tail. */
    private readonly onOutput: (line: string) => void,
    /** Repo-relative folder the run's paths are relative to, for audit findings. */
    private readonly cwdInRepo: string,
  ) {}

  push(chunk: Buffer | string): void {
    this.pending += chunk.toString();
    let i: number;
    while ((i = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, i);
      this.pending = this.pending.slice(i + 1);
      if (line.trim()) this.line(line);
    }
  }

  finish(): void {
    if (this.pending.trim()) this.line(this.pending);
    this.pending = '';
  }

  private violation(why: string): void {
    if (this.violations.length < 5) this.violations.push(why);
  }

  private line(line: string): void {
    let event: Event;
    try {
      event = JSON.parse(line) as Event;
    } catch {
      this.violation(`not JSON: ${line.slice(0, 120)}`);
      return;
    }
    if (!validateEvent(event)) {
      this.violation(`${ajv.errorsText(validateEvent.errors)}: ${line.slice(0, 120)}`);
      return;
    }
    if (event.protocol !== PROTOCOL_VERSION) {
      this.violation(`protocol version ${event.protocol}, expected ${PROTOCOL_VERSION}`);
      return;
    }
    if (event.experiment_id !== this.experimentId) {
      this.violation(`event for ${event.experiment_id}, expected ${this.experimentId}`);
      return;
    }
    if (event.seq !== this.nextSeq) this.violation(`lost lines: seq ${event.seq} after ${this.nextSeq - 1}`);
    this.nextSeq = event.seq + 1;
    this.apply(event);
  }

  private apply(e: Event): void {
    switch (e.type) {
      case 'log':
        if (e.stream !== 'harness') this.onOutput(String(e.text));
        else this.onOutput(`[harness] ${String(e.text)}`);
        break;
      case 'metric':
        this.metrics[String(e.name)] = e.value === null ? NaN : Number(e.value);
        break;
      case 'audit':
        if (e.verdict === 'fail' || e.verdict === 'warn') this.audit.push(...this.findings(e));
        break;
      case 'end':
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
    if (e.check === 'protected_files') {
      const files = ['changed', 'removed', 'added'].flatMap((k) => (Array.isArray(evidence[k]) ? (evidence[k] as string[]) : []));
      const toRepo = (p: string) => path.posix.normalize(path.posix.join(this.cwdInRepo || '.', p));
      if (files.length > 0) {
        return files.map((f) => ({ check: 'protected-file-changed', severity, message: `the run changed protected file ${toRepo(f)}`, file: toRepo(f), evidence: String(e.message) }));
      }
    }
    return [{ check: String(e.check), severity, message: String(e.message), evidence: JSON.stringify(evidence).slice(0, 500) }];
  }
}
