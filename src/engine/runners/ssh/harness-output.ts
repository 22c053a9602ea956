// Reads the harness's JSON lines (one event per line: start, log, metric, audit, resource, end)
// into what a RunResult needs: the run's own output as text, the harness's audit verdicts and how
// the run ended. A line that is not an event is kept as output, so nothing the host prints is lost.
import type { AuditFinding } from '../../types';

/** The version of remote-runner/PROTOCOL.md this reader understands. */
export const PROTOCOL_VERSION = 1;

export interface HarnessEnd {
  reason: 'ok' | 'failed' | 'timeout' | 'cancelled' | 'error';
  exitCode: number | null;
  signal: string | null;
  message?: string;
}

export interface HarnessSink {
  /** A line of the run's output (stdout or stderr), without its newline. */
  output(text: string): void;
  /** The harness started the run (its `start` event). */
  started?(time: number): void;
}

export class HarnessReader {
  readonly audit: AuditFinding[] = [];
  readonly metrics = new Map<string, number>();
  end: HarnessEnd | undefined;
  /** The host's clock when the harness reported the end (seconds since the epoch). */
  endTime: number | undefined;
  droppedLines = 0;
  /** Bytes of complete lines consumed: where to resume after a reconnect. */
  offset = 0;
  private partial: Buffer = Buffer.alloc(0);

  constructor(private readonly sink: HarnessSink) {}

  push(chunk: Buffer): void {
    let buf = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      this.offset += nl + 1;
      this.line(buf.subarray(0, nl).toString('utf8'));
      buf = buf.subarray(nl + 1);
    }
    this.partial = Buffer.from(buf);
  }

  /** Forgets a partly received line: the next attach starts again at `offset`. */
  resetPartial(): void {
    this.partial = Buffer.alloc(0);
  }

  private line(text: string): void {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.sink.output(text);
      return;
    }
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
      this.sink.output(text);
      return;
    }
    if (event.protocol !== PROTOCOL_VERSION) {
      // PROTOCOL.md: a reader refuses other versions rather than guess what the fields mean.
      this.end ??= { reason: 'error', exitCode: null, signal: null, message: `the harness speaks protocol ${String(event.protocol)}; this engine reads ${PROTOCOL_VERSION}` };
      return;
    }
    switch (event.type) {
      case 'start':
        this.sink.started?.(typeof event.time === 'number' ? event.time : Date.now() / 1000);
        return;
      case 'log':
        if (event.stream === 'harness') this.sink.output(`[harness] ${String(event.text ?? '')}`);
        else this.sink.output(String(event.text ?? ''));
        return;
      case 'metric':
        // JSON has no NaN: the harness writes a non-finite value as null.
        if (typeof event.name === 'string') this.metrics.set(event.name, typeof event.value === 'number' ? event.value : NaN);
        return;
      case 'audit':
        this.onAudit(event);
        return;
      case 'resource':
        if (typeof event.dropped_log_lines === 'number') this.droppedLines = event.dropped_log_lines;
        return;
      case 'end':
        this.endTime = typeof event.time === 'number' ? event.time : Date.now() / 1000;
        this.end = {
          reason: (['ok', 'failed', 'timeout', 'cancelled', 'error'].includes(String(event.reason)) ? event.reason : 'error') as HarnessEnd['reason'],
          exitCode: typeof event.exit_code === 'number' ? event.exit_code : null,
          signal: typeof event.signal === 'string' ? event.signal : null,
          message: typeof event.message === 'string' ? event.message : undefined,
        };
        return;
    }
  }

  private onAudit(event: Record<string, unknown>): void {
    const verdict = event.verdict;
    if (verdict !== 'fail' && verdict !== 'warn') return;
    const check = String(event.check ?? 'harness');
    const evidence = event.evidence as Record<string, unknown> | undefined;
    // The runner names protected files `./path` (so none reads as an option); findings use repo paths.
    const touched = ['changed', 'removed', 'added']
      .flatMap((k) => (Array.isArray(evidence?.[k]) ? (evidence![k] as string[]) : []))
      .map((f) => f.replace(/^\.\//, ''));
    const finding = (file?: string): AuditFinding => ({
      check: check === 'protected_files' ? 'protected-file-changed' : check,
      severity: verdict === 'fail' ? 'hack' : 'warning',
      message: file ? `the run changed protected file ${file}` : String(event.message ?? check),
      file,
    });
    if (check === 'protected_files' && verdict === 'fail' && touched.length > 0) this.audit.push(...touched.map((f) => finding(f)));
    else this.audit.push(finding());
  }

  /** Metric lines for the output tail when the harness stopped forwarding a noisy run's output. */
  metricLines(): string {
    return [...this.metrics].map(([k, v]) => `${k}: ${v}`).join('\n');
  }
}
