// Every git operation the engine needs. The user's working tree, index and HEAD are only ever
// read: snapshots go through a private index file, experiments live in their own worktrees and
// under refs/ratchet/, so a search never changes what the user sees in `git status`.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import { exec } from '../util/proc';

/** A fixed identity, so commits work on machines where the user never configured one. */
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Ratchet',
  GIT_AUTHOR_EMAIL: 'ratchet@localhost',
  GIT_COMMITTER_NAME: 'Ratchet',
  GIT_COMMITTER_EMAIL: 'ratchet@localhost',
};

export async function git(cwd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<string> {
  let result;
  try {
    result = await exec('git', args, { cwd, env: { ...process.env, ...IDENTITY, ...opts.env }, input: opts.input });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RatchetError('git is not installed or not on PATH', 'install git (e.g. `apt-get install git`) and try again');
    }
    throw e;
  }
  if (result.code !== 0) {
    throw new GitError(`git ${args[0]} failed: ${result.stderr.trim() || result.stdout.trim()}`, result.stderr);
  }
  return result.stdout;
}

export class GitError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
    this.name = 'GitError';
  }
}

/** The repository's root for a folder, or a RatchetError that says how to make one. */
export async function findRepoRoot(dir: string): Promise<string> {
  if (!existsSync(dir)) throw new RatchetError(`folder not found: ${dir}`, 'check the path');
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
  } catch (e) {
    if (e instanceof GitError) {
      throw new RatchetError(
        `not a git repository: ${dir}`,
        'Ratchet records experiments as git commits: run `git init && git add -A && git commit -m "initial"` there, or open the repository\'s root',
        'NOT_A_REPO',
      );
    }
    throw e;
  }
}

async function headCommit(root: string): Promise<string | undefined> {
  try {
    return (await git(root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}'])).trim();
  } catch {
    return undefined; // a repository with no commits yet
  }
}

/**
 * A commit of the working tree as it is now — committed files, uncommitted edits and untracked
 * files that are not ignored — made through a copy of the index, so the user's index is untouched.
 */
export async function snapshotWorkingTree(root: string, message: string): Promise<string> {
  const tmp = path.join(os.tmpdir(), `ratchet-index-${process.pid}-${Date.now()}`);
  const realIndex = path.resolve(root, (await git(root, ['rev-parse', '--git-path', 'index'])).trim());
  // Starting from a copy keeps git's stat cache, so only changed files are hashed again. The copy
  // keeps the original's mtime: git trusts cached stat data only for files older than the index,
  // and a fresh mtime would hide an edit made in the same second as the last `git add`.
  if (existsSync(realIndex)) {
    copyFileSync(realIndex, tmp);
    const { atime, mtime } = statSync(realIndex);
    utimesSync(tmp, atime, mtime);
  }
  const env = { GIT_INDEX_FILE: tmp };
  try {
    await git(root, ['add', '-A', '--', '.'], { env });
    const tree = (await git(root, ['write-tree'], { env })).trim();
    const head = await headCommit(root);
    const args = ['commit-tree', tree, '-m', message];
    if (head) args.push('-p', head);
    return (await git(root, args)).trim();
  } finally {
    rmSync(tmp, { force: true });
  }
}

export async function updateRef(root: string, ref: string, commit: string): Promise<void> {
  await git(root, ['update-ref', ref, commit]);
}

export async function refExists(root: string, ref: string): Promise<boolean> {
  try {
    await git(root, ['rev-parse', '--verify', '-q', ref]);
    return true;
  } catch {
    return false;
  }
}

/**
 * git reads every registered worktree's admin folder when it adds or removes one, and fails on a
 * folder another `worktree add` is still writing; so worktree changes of a repository go one at a
 * time within this process.
 */
const worktreeQueues = new Map<string, Promise<unknown>>();

function serialised<T>(root: string, op: () => Promise<T>): Promise<T> {
  const next = (worktreeQueues.get(root) ?? Promise.resolve()).then(op, op);
  worktreeQueues.set(root, next.catch(() => undefined));
  return next;
}

export function addWorktree(root: string, dir: string, commit: string): Promise<void> {
  return serialised(root, async () => {
    mkdirSync(path.dirname(dir), { recursive: true });
    if (existsSync(dir)) await removeWorktreeNow(root, dir);
    await git(root, ['worktree', 'add', '--detach', '--force', '--quiet', dir, commit]);
  });
}

export function removeWorktree(root: string, dir: string): Promise<void> {
  return serialised(root, () => removeWorktreeNow(root, dir));
}

async function removeWorktreeNow(root: string, dir: string): Promise<void> {
  try {
    await git(root, ['worktree', 'remove', '--force', '--force', dir]);
  } catch {
    // Already gone, or never registered: make sure nothing is left either way.
    rmSync(dir, { recursive: true, force: true });
    await pruneWorktreesNow(root);
  }
}

/** Forgets worktrees whose folders are gone, including admin folders a killed `git worktree add` left half-written. */
export function pruneWorktrees(root: string): Promise<void> {
  return serialised(root, () => pruneWorktreesNow(root));
}

async function pruneWorktreesNow(root: string): Promise<void> {
  const common = path.resolve(root, (await git(root, ['rev-parse', '--git-common-dir'])).trim());
  const admin = path.join(common, 'worktrees');
  if (existsSync(admin)) {
    for (const name of readdirSync(admin)) {
      const entry = path.join(admin, name);
      if (!existsSync(path.join(entry, 'commondir')) || !existsSync(path.join(entry, 'gitdir'))) {
        rmSync(entry, { recursive: true, force: true });
      }
    }
  }
  await git(root, ['worktree', 'prune']).catch(() => undefined);
}

/** Applies a patch to a worktree and its index; throws GitError with git's reason when it does not apply. */
export async function applyPatchInWorktree(worktree: string, patch: string): Promise<void> {
  await git(worktree, ['apply', '--index', '--whitespace=nowarn', '-'], { input: patch });
}

/** Commits the worktree's index as a child of `parent`. */
export async function commitWorktree(worktree: string, parent: string, message: string): Promise<string> {
  const tree = (await git(worktree, ['write-tree'])).trim();
  return (await git(worktree, ['commit-tree', tree, '-p', parent, '-m', message])).trim();
}

export async function readFileAt(root: string, commit: string, file: string): Promise<string> {
  return git(root, ['cat-file', 'blob', `${commit}:${file}`]);
}

export async function diffCommits(root: string, from: string, to: string, paths: string[] = []): Promise<string> {
  return git(root, ['diff', '--no-color', '--no-ext-diff', from, to, '--', ...paths]);
}

/** Applies a patch to the user's working tree only (not the index), refusing if any hunk conflicts. */
export async function applyToWorkingTree(root: string, patch: string): Promise<void> {
  try {
    await git(root, ['apply', '--check', '--whitespace=nowarn', '-'], { input: patch });
  } catch (e) {
    if (e instanceof GitError) {
      throw new RatchetError(
        `the patch does not apply to your working tree:\n  ${e.stderr.trim().split('\n').join('\n  ')}`,
        'your files changed since the search started: commit or stash your edits, or merge by hand from `ratchet show`',
        'APPLY_CONFLICT',
      );
    }
    throw e;
  }
  await git(root, ['apply', '--whitespace=nowarn', '-'], { input: patch });
}
