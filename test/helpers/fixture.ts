// A throw-away git repository holding the tiny training script, its task and replay patches.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const FIXTURE = path.join(__dirname, '..', 'e2e', 'fixture');

export interface FixtureRepo {
  root: string;
  cleanup(): void;
}

/** Copies the fixture to a temp folder and commits it; `without` drops patches by name. */
export function fixtureRepo(opts: { without?: string[] } = {}): FixtureRepo {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ratchet-fixture-'));
  cpSync(FIXTURE, root, { recursive: true });
  for (const p of opts.without ?? []) unlinkSync(path.join(root, 'patches', p));
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'fixture');
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
