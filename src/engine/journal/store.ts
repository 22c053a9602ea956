// Where a workspace keeps its searches: `.ratchet/` at the repository root, ignored by git through
// its own .gitignore (so the user's .gitignore is never edited). One folder per search holds the
// settings (search.json, written once), the journal, and the run logs.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, openSync, closeSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import type { Task } from '../types';

export interface SearchSettings {
  id: string;
  /** Repo-relative path of the file the search is about. */
  file: string;
  task: Task;
  proposer: string;
  proposerOptions?: Record<string, unknown>;
  parallel: number;
  /** Threads of research open at once, for proposers that follow the search policy. */
  threads?: number;
  seed: number;
  /** The snapshot of the working tree the search started from. */
  baselineCommit: string;
  createdAt: string;
  maxRuns?: number;
  timeLimitSeconds?: number;
  /** Environment variables the runs must not see (names only, never values). */
  scrubEnv?: string[];
}

export function ratchetDir(repoRoot: string): string {
  const dir = path.join(repoRoot, '.ratchet');
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const ignore = path.join(dir, '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '# Ratchet\'s journal and worktrees: local to this machine.\n*\n');
  return dir;
}

export function searchDir(repoRoot: string, id: string): string {
  return path.join(ratchetDir(repoRoot), 'searches', id);
}

export function journalPath(repoRoot: string, id: string): string {
  return path.join(searchDir(repoRoot, id), 'journal.jsonl');
}

export function writeSettings(repoRoot: string, settings: SearchSettings): void {
  const dir = searchDir(repoRoot, settings.id);
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  // Written whole and renamed into place: a crash leaves either no file or a complete one.
  const tmp = path.join(dir, 'search.json.tmp');
  writeFileSync(tmp, JSON.stringify(settings, null, 2) + '\n');
  renameSync(tmp, path.join(dir, 'search.json'));
}

export function readSettings(repoRoot: string, id: string): SearchSettings {
  const file = path.join(searchDir(repoRoot, id), 'search.json');
  if (!existsSync(file)) throw new RatchetError(`no search named ${id}`, 'list searches with `ratchet status`');
  return JSON.parse(readFileSync(file, 'utf8')) as SearchSettings;
}

/** Every search in the workspace, oldest first. */
export function listSearches(repoRoot: string): SearchSettings[] {
  const root = path.join(repoRoot, '.ratchet', 'searches');
  if (!existsSync(root)) return [];
  const all: SearchSettings[] = [];
  for (const id of readdirSync(root)) {
    try {
      all.push(readSettings(repoRoot, id));
    } catch {
      // A folder whose settings were never completely written holds nothing to show.
    }
  }
  return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** A file-system-safe name for a file path, used in search ids and lock names. */
export function slug(file: string): string {
  return file.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '').slice(-60) || 'search';
}

export function newSearchId(file: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${slug(file)}-${stamp}`;
}

// ---- locks: one running search per file ----

export interface LockInfo {
  pid: number;
  searchId: string;
}

function lockPath(repoRoot: string, file: string): string {
  const dir = path.join(ratchetDir(repoRoot), 'locks');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${slug(file)}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(repoRoot: string, file: string): LockInfo | undefined {
  const p = lockPath(repoRoot, file);
  if (!existsSync(p)) return undefined;
  try {
    const info = JSON.parse(readFileSync(p, 'utf8')) as LockInfo;
    return alive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the file's lock or says which search holds it. A lock left by a dead process is taken over. */
export function acquireLock(repoRoot: string, file: string, searchId: string): () => void {
  const p = lockPath(repoRoot, file);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(p, 'wx');
      writeFileSync(fd, JSON.stringify({ pid: process.pid, searchId } satisfies LockInfo));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(p);
        } catch {
          // Already released.
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readLock(repoRoot, file);
      if (holder) {
        throw new RatchetError(
          `a search on ${file} is already running (search ${holder.searchId}, process ${holder.pid})`,
          'watch it with `ratchet status`, or stop it with `ratchet stop` before starting another',
          'SEARCH_RUNNING',
        );
      }
      unlinkSync(p); // stale: its process is gone
    }
  }
  throw new RatchetError(`could not take the lock ${p}`, 'remove the file if no search is running');
}
