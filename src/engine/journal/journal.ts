// The durable record of a search: `.ratchet/searches/<id>/journal.jsonl`, one JSON object per line,
// only ever appended. Each record is written with one write() and fsync'd, so `kill -9` at any
// moment leaves every finished record intact and at most one torn last line, which readers skip
// and the next writer cuts off before appending.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { RatchetError } from '../errors';
import type { ExperimentRecord, Proposal } from '../types';

export type JournalRecord =
  | { type: 'search-started'; at: string; pid: number }
  | { type: 'experiment-started'; at: string; id: string; parent?: string; hypothesis: string; thread?: string }
  /** A proposal made and waiting for a slot: after a crash, resume runs it instead of losing it. */
  | { type: 'proposed'; at: string; id: string; parent: string; thread: string; intent: NonNullable<ExperimentRecord['intent']>; other?: string; proposal: Proposal }
  /** The research notes as a proposer last wrote them (they replace earlier ones). */
  | { type: 'notes'; at: string; by: string; text: string }
  | { type: 'experiment'; at: string; experiment: ExperimentRecord }
  | { type: 'best'; at: string; id: string; mean: number }
  | { type: 'metric-chosen'; at: string; name: string; direction: 'lower' | 'higher' }
  /** A person accepted a suspect result after reviewing it: from then on it counts as kept. */
  | { type: 'accepted'; at: string; id: string; by: 'cli' | 'editor'; reason: string }
  | { type: 'search-stopped'; at: string; reason: string };

export interface JournalContents {
  records: JournalRecord[];
  /** Bytes of a torn last line that was skipped (a crash while writing it). */
  tornBytes: number;
}

export function readJournal(file: string): JournalContents {
  if (!existsSync(file)) return { records: [], tornBytes: 0 };
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  const records: JournalRecord[] = [];
  for (const line of text.slice(0, end).split('\n')) {
    if (line.trim() === '') continue;
    records.push(JSON.parse(line) as JournalRecord);
  }
  return { records, tornBytes: Buffer.byteLength(text.slice(end)) };
}

export class JournalWriter {
  private fd: number;

  /** `redact` blanks the search's known secrets from each line before it is written. */
  constructor(private readonly file: string, private readonly redact?: (text: string) => string) {
    this.fd = openSync(file, 'a+');
    // Cut a torn last line left by a crash, so the next record starts on a line of its own.
    const end = endOfLastLine(this.fd);
    if (end !== undefined) ftruncateSync(this.fd, end);
  }

  append(record: JournalRecord): void {
    const line = Buffer.from(this.serialize(record) + '\n');
    const stat = fstatSync(this.fd);
    const before = stat.isFile() ? stat.size : undefined;
    try {
      let offset = 0;
      while (offset < line.length) offset += writeSync(this.fd, line, offset);
      fsyncSync(this.fd);
    } catch (e) {
      // Leave the file as it was before this record: complete lines only.
      try {
        if (before !== undefined) ftruncateSync(this.fd, before);
      } catch {
        // Nothing more can be done; readers skip a torn last line anyway.
      }
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new RatchetError(
          `disk full while writing the journal ${this.file}; every experiment recorded before is intact`,
          'free some space, then continue with `ratchet search --resume`',
          'DISK_FULL',
        );
      }
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private serialize(record: JournalRecord): string {
    const text = JSON.stringify(record);
    if (!this.redact || this.redact(text) === text) return text;
    // Blanked in each string, names included, and serialized again: blanking the line itself could
    // cut a record apart where a match runs across JSON punctuation.
    return JSON.stringify(redactStrings(record, this.redact));
  }
}

function redactStrings(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redact));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactStrings(v, redact)]));
  return value;
}

/** Byte offset just after the last newline, when the file ends in a torn line; else undefined. */
function endOfLastLine(fd: number): number | undefined {
  const stat = fstatSync(fd);
  if (!stat.isFile() || stat.size === 0) return undefined;
  const chunk = Buffer.alloc(64 * 1024);
  for (let pos = stat.size; pos > 0; ) {
    const start = Math.max(0, pos - chunk.length);
    const n = readSync(fd, chunk, 0, pos - start, start);
    const i = chunk.subarray(0, n).lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1 === stat.size ? undefined : start + i + 1;
    pos = start;
  }
  return 0;
}

/**
 * The journal's finished experiments, in order, with the latest record of each id winning. A
 * suspect experiment a person accepted reads as kept, with who accepted it, when and why.
 */
export function experimentsOf(records: readonly JournalRecord[]): ExperimentRecord[] {
  const byId = new Map<string, ExperimentRecord>();
  const accepted = new Map<string, Extract<JournalRecord, { type: 'accepted' }>>();
  for (const r of records) {
    if (r.type === 'experiment') byId.set(r.experiment.id, r.experiment);
    if (r.type === 'accepted') accepted.set(r.id, r);
  }
  // Applied to the latest record, whichever was written last: only a suspect verdict changes.
  for (const [id, a] of accepted) {
    const e = byId.get(id);
    if (e?.verdict.kind !== 'suspect') continue;
    const { improvement, threshold } = e.verdict;
    byId.set(id, { ...e, verdict: { kind: 'kept', improvement, threshold }, accepted: { at: a.at, by: a.by, reason: a.reason } });
  }
  return [...byId.values()];
}
