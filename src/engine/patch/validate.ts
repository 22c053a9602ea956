// Checks a proposed patch before it goes near git: every path it names must be an editable file
// of the task, inside the repository, not under .git, not protected; no symlinks, no mode changes.
import { parsePatch } from 'diff';
import picomatch from 'picomatch';
import * as path from 'node:path';
import type { Task } from '../types';

export class PatchRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchRejected';
  }
}

/** Normalises a path from a patch header; throws PatchRejected for anything that escapes the repo. */
export function normalisePatchPath(raw: string): string {
  let p = raw.trim().replace(/\t.*$/, '');
  if (p.startsWith('"')) {
    throw new PatchRejected(`quoted path in patch (${p}): only plain file names are accepted`);
  }
  if (p.startsWith('a/') || p.startsWith('b/')) p = p.slice(2);
  if (p === '' || p.includes('\0')) throw new PatchRejected('empty path in patch');
  if (path.posix.isAbsolute(p) || /^[A-Za-z]:/.test(p)) throw new PatchRejected(`absolute path in patch: ${p}`);
  const normal = path.posix.normalize(p);
  if (normal === '..' || normal.startsWith('../')) throw new PatchRejected(`path outside the repository: ${p}`);
  if (normal.split('/').some((part) => part === '.git')) throw new PatchRejected(`path inside .git: ${p}`);
  return normal;
}

/** Repo-relative paths a patch touches; throws PatchRejected when it may not be applied. */
export function checkPatch(patch: string, task: Pick<Task, 'editable' | 'protected'>): string[] {
  if (patch.trim() === '') throw new PatchRejected('the patch is empty');
  for (const line of patch.split('\n')) {
    if (/^(old mode|new mode|deleted file mode|new file mode|similarity index|rename from|rename to|copy from|copy to|GIT binary patch|Binary files)/.test(line)) {
      throw new PatchRejected(`the patch may only edit the contents of existing files (found "${line.trim()}")`);
    }
  }
  let files;
  try {
    files = parsePatch(patch);
  } catch (e) {
    throw new PatchRejected(`malformed patch: ${(e as Error).message}`);
  }
  const touched = new Set<string>();
  for (const f of files) {
    if (f.hunks.length === 0) continue;
    for (const name of [f.oldFileName, f.newFileName]) {
      if (name === undefined || name === '/dev/null') {
        throw new PatchRejected('the patch may not create or delete files');
      }
      touched.add(normalisePatchPath(name));
    }
  }
  if (touched.size === 0) throw new PatchRejected('the patch has no hunks');
  const isProtected = picomatch(task.protected, { dot: true });
  for (const file of touched) {
    if (task.protected.length > 0 && isProtected(file)) throw new PatchRejected(`the patch touches protected file ${file}`);
    if (!task.editable.includes(file)) {
      throw new PatchRejected(`the patch touches ${file}, which is not an editable file of the task (${task.editable.join(', ')})`);
    }
  }
  return [...touched];
}
