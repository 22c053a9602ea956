// Runs experiments on this machine, each through the harness (remote-runner/) in a fresh git
// worktree of its commit. The harness runs the command in its own process group under the time
// budget, hashes the protected files around it and reports everything as protocol events; the
// run's own output goes to a RunLog (a capped file and a small in-memory tail).
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import picomatch from 'picomatch';
import { addWorktree, git, removeWorktree } from '../git/repo';
import type { Runner, RunRequest, RunResult, Slot } from '../types';
import { placeKernel } from '../task/kernel';
import { withoutNames } from '../secrets/secrets';
import { harnessRoot, kernelArgs, placeContract, ProtocolReader, trainArgs } from './harness';
import { RunLog } from './run-log';
import { TailBuffer } from './tail';

export interface LocalRunnerOptions {
  /** Number of runs at a time. */
  parallel: number;
  /** GPU indices to spread slots over (CUDA_VISIBLE_DEVICES); none: slots get no GPU pinning. */
  gpus?: string[];
  /** Bytes of output kept in the log file; the rest is counted and dropped. */
  logCapBytes?: number;
  /** Bytes of output kept in memory for the record. */
  tailBytes?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Folder for the runs' throwaway worktrees. */
  worktreeRoot: string;
  /** Interpreter for the harness (standard library only). */
  python?: string;
}


export class LocalRunner implements Runner {
  readonly name = 'local';
  private readonly slotList: Slot[];

  constructor(private readonly opts: LocalRunnerOptions) {
    this.slotList = Array.from({ length: Math.max(1, opts.parallel) }, (_, i) => {
      const gpu = opts.gpus && opts.gpus.length > 0 ? opts.gpus[i % opts.gpus.length] : undefined;
      const env: Record<string, string> = gpu !== undefined ? { CUDA_VISIBLE_DEVICES: gpu } : {};
      return { id: gpu !== undefined ? `local:gpu${gpu}#${i}` : `local#${i}`, env };
    });
  }

  slots(): Slot[] {
    return this.slotList;
  }

  async run(req: RunRequest): Promise<RunResult> {
    const worktree = path.join(this.opts.worktreeRoot, `${req.experimentId}-s${req.seed}-${process.pid}`);
    await addWorktree(req.repoRoot, worktree, req.commit);
    try {
      const files = (await git(worktree, ['ls-files', '-z'])).split('\0').filter(Boolean);
      const protect = protectedFiles(files, req.cwd, req.protected);
      return await this.runHarness(req, worktree, protect, files);
    } finally {
      await removeWorktree(req.repoRoot, worktree);
    }
  }

  /** The harness's arguments: `kernel` for a kernel run, else `train` around the command. */
  private harnessArgs(req: RunRequest, worktree: string, cwd: string, protect: string[], grace: number, files: string[]): string[] {
    if (req.kernel) {
      return kernelArgs({
        experimentId: req.experimentId,
        kernel: placeKernel(req.kernel, (p) => path.join(worktree, p)),
        budgetSeconds: req.timeoutMs / 1000,
        cwd,
        protect,
        seed: req.seed,
        gpu: req.slot.env.CUDA_VISIBLE_DEVICES,
        scrubEnv: req.scrubEnv,
      });
    }
    return trainArgs({
      experimentId: req.experimentId,
      seed: req.seed,
      budgetSeconds: req.timeoutMs / 1000,
      cwd,
      protect,
      command: req.command,
      killGraceSeconds: grace / 1000,
      runRoot: worktree,
      contract: placeContract(req.contract, req.cwd, files),
      scrubEnv: req.scrubEnv,
    });
  }

  private runHarness(req: RunRequest, worktree: string, protect: string[], files: string[]): Promise<RunResult> {
    const cwd = path.join(worktree, req.cwd);
    const log = new RunLog(req.logPath, this.opts.logCapBytes, this.opts.tailBytes, req.redact);
    const grace = this.opts.killGraceMs ?? 2000;
    const started = Date.now();
    const reader = new ProtocolReader(req.experimentId, { output: (line) => log.line(line) }, req.cwd);
    const stderrTail = new TailBuffer(4096);

    return new Promise<RunResult>((resolve) => {
      let cancelled = false;
      let backstop = false;
      let killTimer: NodeJS.Timeout | undefined;
      const child = spawn(this.opts.python ?? 'python3', this.harnessArgs(req, worktree, cwd, protect, grace, files), {
        cwd,
        env: { ...withoutNames({ ...process.env, ...req.slot.env, ...req.env }, req.scrubEnv), PYTHONPATH: harnessRoot(), PYTHONDONTWRITEBYTECODE: '1' },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const signalHarness = (signal: NodeJS.Signals) => {
        try {
          if (child.pid !== undefined) process.kill(child.pid, signal);
        } catch {
          // Already gone.
        }
      };
      // The harness stops the run's process group on SIGTERM and still reports its end.
      const stop = () => {
        signalHarness('SIGTERM');
        killTimer ??= setTimeout(() => signalHarness('SIGKILL'), grace + 10_000);
      };
      // The harness enforces the budget; this only catches a harness that stopped answering.
      const timer = setTimeout(() => {
        backstop = true;
        stop();
      }, req.timeoutMs + grace + 15_000);
      const onAbort = () => {
        cancelled = true;
        stop();
      };
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });

      child.stdout.on('data', (d: Buffer) => reader.push(d));
      child.stderr.on('data', (d: Buffer) => stderrTail.push(d));
      let spawnError: string | undefined;
      child.on('error', (e) => {
        spawnError = e.message;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (killTimer) clearTimeout(killTimer);
        req.signal.removeEventListener('abort', onAbort);
        reader.finish();
        log.close();
        const end = reader.end;
        // The harness could not evaluate the run at all (kernel mode: a bad task, a broken
        // reference): its own message says why, better than the last log line.
        if (!spawnError && end?.reason === 'error' && end.message) spawnError = end.message;
        if (!spawnError && !end) {
          spawnError = `the harness stopped without reporting how the run ended (exit code ${code})` +
            (reader.violations.length ? `; ${reader.violations[0]}` : '') +
            (stderrTail.text().trim() ? `: ${stderrTail.text().trim().split('\n').slice(-3).join(' | ')}` : '');
        }
        resolve(log.result({
          started,
          exitCode: end?.exitCode ?? null,
          signal: end?.signal ?? null,
          timedOut: end?.reason === 'timeout' || backstop,
          cancelled: cancelled || end?.reason === 'cancelled',
          spawnError,
          ...reader.results(),
          failure: reader.failure,
          host: 'localhost',
        }));
      });
    });
  }
}

/** The tracked files matching the protected globs, relative to the run's folder. */
function protectedFiles(files: readonly string[], cwd: string, patterns: readonly string[]): string[] {
  if (patterns.length === 0) return [];
  const isProtected = picomatch([...patterns], { dot: true });
  return files.filter((f) => isProtected(f)).map((f) => path.posix.relative(cwd || '.', f) || '.');
}
