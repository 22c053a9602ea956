// Fingerprints of the protected files in a worktree, taken before and after a run: a run that
// rewrites its own evaluation or data is caught even when the patch never named those files.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import type { AuditFinding } from '../types';
import { git } from '../git/repo';

export type Fingerprints = Map<string, string>;

export async function fingerprintProtected(worktree: string, patterns: readonly string[]): Promise<Fingerprints> {
  const prints: Fingerprints = new Map();
  if (patterns.length === 0) return prints;
  const isProtected = picomatch([...patterns], { dot: true });
  const files = (await git(worktree, ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])).split('\0').filter(Boolean);
  for (const f of files) {
    if (!isProtected(f)) continue;
    prints.set(f, hashFile(path.join(worktree, f)));
  }
  return prints;
}

function hashFile(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

export function compareFingerprints(before: Fingerprints, after: Fingerprints): AuditFinding[] {
  const findings: AuditFinding[] = [];
  for (const [file, hash] of before) {
    const now = after.get(file) ?? 'missing';
    if (now !== hash) {
      findings.push({
        check: 'protected-file-changed',
        severity: 'hack',
        message: now === 'missing' ? `the run deleted protected file ${file}` : `the run changed protected file ${file}`,
        file,
        evidence: `sha256 before ${hash.slice(0, 12)}, after ${now.slice(0, 12)}`,
      });
    }
  }
  for (const file of after.keys()) {
    if (!before.has(file)) {
      findings.push({ check: 'protected-file-changed', severity: 'hack', message: `the run created protected file ${file}`, file });
    }
  }
  return findings;
}
