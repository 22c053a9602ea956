// Builds an experiment's commit from its parent's commit and a patch, without a worktree: a
// private index is filled from the parent's tree, the patch is applied to it, and the result is
// committed. A patch that does not apply fails here, before any run is spent on it.
import { rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { git } from './repo';

let counter = 0;

export async function commitPatch(root: string, parent: string, patch: string, message: string): Promise<string> {
  const index = path.join(os.tmpdir(), `ratchet-apply-${process.pid}-${Date.now()}-${counter++}`);
  const env = { GIT_INDEX_FILE: index };
  try {
    await git(root, ['read-tree', parent], { env });
    await git(root, ['apply', '--cached', '--whitespace=nowarn', '-'], { env, input: patch });
    const tree = (await git(root, ['write-tree'], { env })).trim();
    return (await git(root, ['commit-tree', tree, '-p', parent, '-m', message])).trim();
  } finally {
    rmSync(index, { force: true });
  }
}
