// Three-way merge of two experiments' commits without touching any worktree or index: git's
// `merge-tree --write-tree` computes the merged tree from the object store alone. A clean merge
// becomes a patch against the first commit; a conflicted one hands back the conflicted files with
// git's markers, for a proposer to resolve.
import type { MergeResult } from '../types';
import { exec } from '../util/proc';
import { diffCommits, git, GitError } from './repo';

export async function mergeExperiments(root: string, ours: string, theirs: string, paths: string[]): Promise<MergeResult> {
  // Exit status 0: clean, 1: conflicts; anything else is a real failure (e.g. git older than 2.38).
  const r = await exec('git', ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs], { cwd: root, env: process.env });
  if (r.code !== 0 && r.code !== 1) throw new GitError(`git merge-tree failed: ${r.stderr.trim()}`, r.stderr);
  const lines = r.stdout.split('\n');
  const tree = lines[0]!.trim();
  if (r.code === 0) {
    const patch = await diffCommits(root, ours, tree, paths);
    return { clean: true, patch };
  }
  const names = [...new Set(lines.slice(1).map((l) => l.trim()).filter((l) => l !== ''))];
  const conflicted = [];
  for (const name of names) conflicted.push({ path: name, content: await git(root, ['cat-file', 'blob', `${tree}:${name}`]) });
  return { clean: false, conflicted };
}
