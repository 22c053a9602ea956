// Follows a run's log file while it runs and hands over whole lines, so the editor's run log
// shows the training output as it comes. Polling, because the file may not exist yet and
// fs.watch is unreliable across file systems; a run's log is small and the interval short.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

export class LogTail {
  private offset = 0;
  private partial = '';
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    intervalMs = 300,
  ) {
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Reads what was appended since the last poll. */
  poll(): void {
    if (!existsSync(this.file)) return;
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        this.partial += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.partial.split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.onLine(l);
  }

  /** Flushes what is left, including a last line without a newline, and stops following. */
  stop(): void {
    clearInterval(this.timer);
    this.poll();
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }
}
