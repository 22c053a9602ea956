// A run's output as every runner keeps it: a log file capped in size, and the last bytes in
// memory for the record. A flood of output fills neither the memory nor the disk, and a disk that
// fills up anyway stops the log, not the run (the harness still reports the metrics). Known
// secrets are blanked from every line before it is kept, so the file, the tail and the messages
// built from them are clean.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { RunResult } from '../types';
import { TailBuffer } from './tail';

export const DEFAULT_LOG_CAP = 16 * 1024 * 1024;
export const DEFAULT_TAIL_BYTES = 64 * 1024;

export class RunLog {
  private readonly fd: number;
  private written = 0;
  private dropped = 0;
  private writeError: string | undefined;
  private tail: TailBuffer;
  private extraTail = '';

  constructor(
    file: string,
    private readonly cap = DEFAULT_LOG_CAP,
    private readonly tailBytes = DEFAULT_TAIL_BYTES,
    private readonly redact: (text: string) => string = (text) => text,
  ) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.fd = openSync(file, 'w');
    this.tail = new TailBuffer(tailBytes);
  }

  /** A line of the run's output. */
  line(text: string): void {
    const chunk = Buffer.from(`${this.redact(text)}\n`, 'utf8');
    this.tail.push(chunk);
    if (!this.writeError && this.written + chunk.length <= this.cap && this.write(chunk)) this.written += chunk.length;
    else this.dropped += chunk.length;
  }

  /** A line for the log only; the tail restarts, so a lost attempt's output is not parsed. */
  note(text: string): void {
    this.write(Buffer.from(`${this.redact(text)}\n`));
    this.tail = new TailBuffer(this.tailBytes);
  }

  /** Text to add after the tail (e.g. metric lines the harness stopped forwarding). */
  appendTail(text: string): void {
    this.extraTail = text ? `\n${this.redact(text)}\n` : '';
  }

  result(r: Partial<RunResult> & { started: number }): RunResult {
    const { started, ...rest } = r;
    // The harness's messages can quote the run's output too.
    const cleaned: Partial<RunResult> = {};
    if (rest.spawnError !== undefined) cleaned.spawnError = this.redact(rest.spawnError);
    if (rest.failure !== undefined) cleaned.failure = this.redact(rest.failure);
    if (rest.audit) cleaned.audit = rest.audit.map((f) => ({ ...f, message: this.redact(f.message), ...(f.evidence !== undefined && { evidence: this.redact(f.evidence) }) }));
    return {
      exitCode: null,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: Date.now() - started,
      outputTail: this.tail.text() + this.extraTail,
      droppedBytes: this.dropped,
      audit: [],
      ...rest,
      ...cleaned,
    };
  }

  close(): void {
    if (this.writeError) this.write(Buffer.from(`\n[ratchet: logging stopped: ${this.writeError}; ${this.dropped} bytes were not logged]\n`));
    else if (this.dropped > 0) this.write(Buffer.from(`\n[ratchet: output over ${this.cap} bytes; ${this.dropped} bytes were not logged]\n`));
    closeSync(this.fd);
  }

  private write(chunk: Buffer): boolean {
    try {
      writeSync(this.fd, chunk);
      return true;
    } catch (e) {
      this.writeError ??= (e as Error).message;
      return false;
    }
  }
}
