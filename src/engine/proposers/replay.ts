// Applies the patches of a folder in name order, each against the current best: reproduces a
// published series of changes, and drives tests with known patches. Which patches were already
// used is read back from the history, so a resumed search carries on where it stopped.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import type { Proposal, ProposalContext, Proposer } from '../types';

export class ReplayProposer implements Proposer {
  readonly name = 'replay';
  private readonly files: string[];

  constructor(private readonly folder: string) {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      throw new RatchetError(`patch folder not found: ${folder}`, 'pass an existing folder with --patches');
    }
    this.files = names.filter((n) => /\.(patch|diff)$/.test(n)).sort();
    if (this.files.length === 0) throw new RatchetError(`no .patch or .diff files in ${folder}`, 'put the patches to replay in that folder');
  }

  async propose(ctx: ProposalContext): Promise<Proposal | null> {
    const used = new Set<unknown>([...ctx.history.map((e) => e.meta?.replayFile), ...ctx.pending.map((p) => p.meta?.replayFile)]);
    const next = this.files.find((f) => !used.has(f));
    if (!next) return null;
    const text = readFileSync(path.join(this.folder, next), 'utf8');
    return { hypothesis: describe(text, next), patch: text, meta: { replayFile: next } };
  }
}

/** The patch's own description (a git format-patch Subject, or the first line before the diff), else its file name. */
export function describe(text: string, fileName: string): string {
  const subject = /^Subject:\s*(?:\[PATCH[^\]]*\]\s*)?(.+)$/m.exec(text);
  if (subject) return subject[1]!.trim();
  const head = text.split(/^(?:diff --git |--- )/m)[0]!;
  const first = head.split('\n').map((l) => l.replace(/^#\s*/, '').trim()).find((l) => l.length > 0);
  return first ?? fileName.replace(/\.(patch|diff)$/, '');
}
