// Reads a text/event-stream body (server-sent events, as model APIs stream their answers) into
// events. Network chunks may split a line, a CRLF or a UTF-8 character anywhere.

export interface SseEvent {
  /** The `event:` field, when the server named the event. */
  event?: string;
  /** The `data:` lines, joined with '\n'. */
  data: string;
  id?: string;
}

/** Turns decoded text, fed in arbitrary pieces, into events; follows the WHATWG event-stream rules. */
export class SseParser {
  /** Text after the last complete line. */
  private partialLine = '';
  private dataLines: string[] = [];
  private eventName: string | undefined;
  private lastId: string | undefined;

  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    const buffered = this.partialLine + text;
    const lineEnd = /\r\n|\r|\n/g;
    let lineStart = 0;
    for (let m = lineEnd.exec(buffered); m; m = lineEnd.exec(buffered)) {
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (m[0] === '\r' && m.index === buffered.length - 1) break;
      this.takeLine(buffered.slice(lineStart, m.index), events);
      lineStart = m.index + m[0].length;
    }
    this.partialLine = buffered.slice(lineStart);
    return events;
  }

  /**
   * The body ended. A last line cut off mid-way is dropped (it is a broken connection's remains), but
   * complete data lines that only miss their closing blank line still make an event: some servers
   * end the stream without it.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.partialLine.endsWith('\r')) this.takeLine(this.partialLine.slice(0, -1), events);
    this.partialLine = '';
    this.dispatch(events);
    return events;
  }

  private takeLine(line: string, events: SseEvent[]): void {
    if (line === '') return this.dispatch(events);
    if (line.startsWith(':')) return; // a comment, often a keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
    else if (field === 'event') this.eventName = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    // `retry` and unknown fields mean nothing to a one-shot reader.
  }

  private dispatch(events: SseEvent[]): void {
    if (this.dataLines.length > 0) {
      const event: SseEvent = { data: this.dataLines.join('\n') };
      if (this.eventName) event.event = this.eventName;
      if (this.lastId !== undefined) event.id = this.lastId;
      events.push(event);
    }
    this.dataLines = [];
    this.eventName = undefined;
  }
}

/** The events of a streamed body, e.g. a fetch `Response.body`. Stopping early cancels the body. */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8'); // keeps a split multi-byte character until it is whole
  const parser = new SseParser();
  for await (const chunk of body) yield* parser.push(decoder.decode(chunk, { stream: true }));
  yield* parser.push(decoder.decode());
  yield* parser.end();
}
