// What a search looks like in a terminal: a line per finished experiment, and on a TTY a status
// line redrawn in place (runs done / running / queued, best so far, ETA). Not on a TTY: plain
// lines only, so logs and CI output stay readable.
import type { Search, SearchEvent } from '../engine/search/search';
import { metricProvenance } from '../engine/provenance';
import type { ExperimentRecord, KernelSpec } from '../engine/types';
import { fmtDelta, fmtDuration, fmtMetric, fmtValue, provenanceMark, verdictReason } from './format';

export interface ProgressOptions {
  out: NodeJS.WriteStream;
  tty: boolean;
  deadline?: number;
  maxExperiments?: number;
  parallel: number;
  /** A kernel task's kernel: its values are the harness's own, even in records that do not say so. */
  kernel?: KernelSpec;
}

export class Progress {
  private readonly started = Date.now();
  private readonly experiments = new Map<string, ExperimentRecord>();
  private runsDone = 0;
  private runsRunning = 0;
  private runDurations: number[] = [];
  private best: ExperimentRecord | undefined;
  private baseline: ExperimentRecord | undefined;
  private metricName = '';
  private timer: NodeJS.Timeout | undefined;
  private statusShown = false;
  private finishedCount = 0;
  private held = new Set<string>();

  constructor(private readonly opts: ProgressOptions) {}

  attach(search: Search): void {
    this.metricName = search.metric.name;
    search.on('event', (e: SearchEvent) => this.onEvent(e));
    if (this.opts.tty) this.timer = setInterval(() => this.drawStatus(), 500);
  }

  /** Seeds the display with what a resumed search already has. */
  preload(history: readonly ExperimentRecord[]): void {
    for (const e of history) this.experiments.set(e.id, e);
    this.finishedCount = history.filter((e) => e.id !== 'e0').length;
    this.held = new Set(history.filter((e) => e.verdict.kind === 'suspect').map((e) => e.id));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clearStatus();
  }

  line(text: string): void {
    this.clearStatus();
    this.opts.out.write(text + '\n');
    this.drawStatus();
  }

  private onEvent(e: SearchEvent): void {
    switch (e.type) {
      case 'phase':
        if (e.phase === 'baseline') this.line('Running the baseline to measure the noise…');
        if (e.phase === 'setup') this.line('Running the setup command…');
        break;
      case 'metric-chosen':
        this.metricName = e.name;
        this.line(`Metric: ${e.name} (${e.direction} is better), read from the run's output`);
        break;
      case 'run-started':
        this.runsRunning++;
        break;
      case 'run-finished':
        this.runsRunning--;
        this.runsDone++;
        this.runDurations.push(e.run.durationMs);
        break;
      case 'experiment-finished': {
        const x = e.experiment;
        this.experiments.set(x.id, x);
        if (x.verdict.kind === 'baseline') {
          this.baseline = x;
          this.best = x;
          this.line(`Baseline ${this.metricName} ${fmtMetric(x)}${this.selfReported(x)} — noise (1σ) ${fmtValue(x.spread ?? 0)}`);
          break;
        }
        this.finishedCount++;
        if (e.isBest) this.best = x;
        const parent = x.parent ? this.experiments.get(x.parent) : undefined;
        if (x.verdict.kind === 'suspect') this.held.add(x.id);
        else this.held.delete(x.id);
        const mark = e.isBest ? '★' : x.verdict.kind === 'kept' ? '+' : x.verdict.kind === 'flagged' ? '!' : x.verdict.kind === 'suspect' ? '?' : ' ';
        const why = x.verdict.kind === 'kept' ? '' : `  (${verdictReason(x)})`;
        const value = fmtMetric(x) + (e.isBest ? this.selfReported(x) : '');
        this.line(`${mark} ${x.id.padEnd(4)} ${x.verdict.kind.padEnd(9)} ${value.padEnd(22)} ${fmtDelta(x, parent).padEnd(9)} ${x.hypothesis}${why}`);
        break;
      }
      case 'experiment-started':
        break;
    }
  }

  private statusText(): string {
    const elapsed = Date.now() - this.started;
    const self = this.best && metricProvenance(this.best, this.kernelTask) === 'self-reported' ? ', self-reported' : '';
    const bestPart = this.best?.mean !== undefined ? `best ${fmtValue(this.best.mean)} (${this.best.id}${self})` : 'best —';
    const gain = this.best && this.baseline && this.best !== this.baseline ? ` ${fmtDelta(this.best, this.baseline)} vs baseline` : '';
    const held = this.held.size > 0 ? ` · ${this.held.size} held for review` : '';
    const eta = this.eta();
    return `[${fmtDuration(elapsed)}] ${this.finishedCount} done · ${this.runsRunning} running · ${this.queued()} queued · ${bestPart}${gain}${held} · ${eta ? `ETA ${eta}` : 'no limit: Ctrl-C to stop'}`;
  }

  private get kernelTask(): { kernel?: KernelSpec } {
    return { kernel: this.opts.kernel };
  }

  /** " (self-reported)" after a value the script printed. */
  private selfReported(x: ExperimentRecord): string {
    return provenanceMark(metricProvenance(x, this.kernelTask));
  }

  private queued(): number {
    if (this.opts.maxExperiments === undefined) return 0;
    return Math.max(0, this.opts.maxExperiments - this.finishedCount - this.runsRunning);
  }

  /** Time left, when a limit makes it knowable; '…' until the first run has been timed. */
  private eta(): string | undefined {
    if (this.opts.deadline !== undefined) return fmtDuration(this.opts.deadline - Date.now());
    if (this.opts.maxExperiments === undefined) return undefined;
    const avg = this.runDurations.length ? this.runDurations.reduce((a, b) => a + b, 0) / this.runDurations.length : 0;
    if (avg === 0) return '…';
    return fmtDuration((this.queued() * avg) / this.opts.parallel + avg);
  }

  private drawStatus(): void {
    if (!this.opts.tty) return;
    const width = this.opts.out.columns || 100; // a pty may report 0 columns
    this.opts.out.write(`\r\x1b[2K${this.statusText().slice(0, width - 1)}`);
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (this.opts.tty && this.statusShown) {
      this.opts.out.write('\r\x1b[2K');
      this.statusShown = false;
    }
  }
}
