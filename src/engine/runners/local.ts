// Runs experiments as child processes on this machine. Each run gets its own process group, so a
// timeout or a cancel kills everything it started; output goes to a capped log file and a small
// in-memory tail, so a flood of output can fill neither the memory nor the disk.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { compareFingerprints, fingerprintProtected } from '../audit/protected';
import { addWorktree, removeWorktree } from '../git/repo';
import type { Runner, RunRequest, RunResult, Slot } from '../types';

export interface LocalRunnerOptions {
  /** Number of runs at a time. */
  parallel: number;
  /** GPU indices to spread slots over (CUDA_VISIBLE_DEVICES); none: slots get no GPU pinning. */
  gpus?: string[];
  /** Bytes of output kept in the log file; the rest is counted and dropped. */
  logCapBytes?: number;
  /** Bytes of output kept in memory for metric parsing. */
  tailBytes?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Folder for the runs' throwaway worktrees. */
  worktreeRoot: string;
}

export const DEFAULT_LOG_CAP = 16 * 1024 * 1024;
const DEFAULT_TAIL = 64 * 1024;

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

  /** Runs in a fresh worktree of the commit, with the protected files fingerprinted around the run. */
  async run(req: RunRequest): Promise<RunResult> {
    const worktree = path.join(this.opts.worktreeRoot, `${req.experimentId}-s${req.seed}-${process.pid}`);
    await addWorktree(req.repoRoot, worktree, req.commit);
    try {
      const before = await fingerprintProtected(worktree, req.protected);
      const result = await this.spawnRun(req, path.join(worktree, req.cwd));
      result.audit.push(...compareFingerprints(before, await fingerprintProtected(worktree, req.protected)));
      return result;
    } finally {
      await removeWorktree(req.repoRoot, worktree);
    }
  }

  private spawnRun(req: RunRequest, cwd: string): Promise<RunResult> {
    const cap = this.opts.logCapBytes ?? DEFAULT_LOG_CAP;
    const tail = new TailBuffer(this.opts.tailBytes ?? DEFAULT_TAIL);
    const grace = this.opts.killGraceMs ?? 2000;
    const started = Date.now();
    mkdirSync(path.dirname(req.logPath), { recursive: true });
    const log = openSync(req.logPath, 'w');
    let written = 0;
    let dropped = 0;
    let logError: string | undefined;
    const record = (chunk: Buffer) => {
      tail.push(chunk);
      const room = logError ? 0 : cap - written;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        try {
          writeSync(log, part);
          written += part.length;
        } catch (e) {
          // A full disk stops the log, not the run: the tail in memory still holds the metric.
          logError = (e as Error).message;
        }
      }
      dropped += chunk.length - (logError ? 0 : Math.min(chunk.length, Math.max(0, room)));
    };

    return new Promise<RunResult>((resolve) => {
      let timedOut = false;
      let cancelled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const child = spawn('/bin/sh', ['-c', req.command], {
        cwd,
        env: { ...process.env, ...req.slot.env, ...req.env },
        detached: true, // own process group: kill(-pid) reaches every descendant
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const killGroup = (signal: NodeJS.Signals) => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, signal);
        } catch {
          // The group is already gone.
        }
      };
      const stop = () => {
        killGroup('SIGTERM');
        killTimer ??= setTimeout(() => killGroup('SIGKILL'), grace);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, req.timeoutMs);
      const onAbort = () => {
        cancelled = true;
        stop();
      };
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });

      child.stdout.on('data', record);
      child.stderr.on('data', record);
      let spawnError: string | undefined;
      child.on('error', (e) => {
        spawnError = e.message;
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        // Whatever the shell left behind in its group goes too.
        killGroup('SIGKILL');
        if (killTimer) clearTimeout(killTimer);
        req.signal.removeEventListener('abort', onAbort);
        try {
          if (logError) writeSync(log, `\n[ratchet: logging stopped: ${logError}; ${dropped} bytes were not logged]\n`);
          else if (dropped > 0) writeSync(log, `\n[ratchet: output over ${cap} bytes; ${dropped} bytes were not logged]\n`);
        } catch {
          // Still no room: the result below says what happened.
        }
        closeSync(log);
        resolve({
          exitCode: code,
          signal,
          timedOut,
          cancelled,
          durationMs: Date.now() - started,
          outputTail: tail.text(),
          droppedBytes: dropped,
          spawnError,
          audit: [],
          host: 'localhost',
        });
      });
    });
  }
}

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The tail as text; invalid UTF-8 becomes U+FFFD, and a cut first line is dropped. */
  text(): string {
    let buf = Buffer.concat(this.chunks);
    let cut = false;
    if (buf.length > this.limit) {
      buf = buf.subarray(buf.length - this.limit);
      cut = true;
    }
    const s = new TextDecoder('utf-8', { fatal: false }).decode(buf);
    return cut ? s.slice(s.indexOf('\n') + 1) : s;
  }
}
