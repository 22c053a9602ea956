// The last bytes of a stream, kept in memory: enough to show how a run ended, bounded whatever
// the run prints.

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
