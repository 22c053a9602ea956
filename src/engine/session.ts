// The engine's front door for the command line and the language server: find the repo and the
// task, create or reopen a search, take its lock, and hand back a ready-to-run Search.
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from './errors';
import { findRepoRoot, snapshotWorkingTree } from './git/repo';
import { listSearches, newSearchId, ratchetDir, readSettings, writeSettings, acquireLock, type SearchSettings } from './journal/store';
import { createProposer, type ProposerOptions, type ProposerRuntime } from './proposers/registry';
import { LocalRunner } from './runners/local';
import { Search } from './search/search';
import { checkEnvNames, scrubNames, Secrets } from './secrets/secrets';
import { findTaskFileFor, inferTask, loadTaskFile, repoRelative, type InferOptions } from './task/load';
import type { Runner } from './types';
import { findPython } from './util/python';

export interface StartOptions extends InferOptions {
  /** The file to improve (absolute, or relative to `cwd`). Optional when resuming. */
  file?: string;
  cwd: string;
  taskFile?: string;
  proposer?: string;
  proposerOptions?: ProposerOptions;
  /** Keys and live connections the proposer needs now; never stored. */
  proposerRuntime?: ProposerRuntime;
  /** More environment variables the runs must not see (`--scrub-env`, `ratchet.scrubEnv`); on
   * resume they are added to the stored ones. */
  scrubEnv?: string[];
  /** Threads of research open at once (proposers that follow the search policy). */
  threads?: number;
  parallel?: number;
  gpus?: string[];
  seed?: number;
  resume?: boolean;
  /** A search id to resume; default: the latest search on the file. */
  searchId?: string;
  maxExperiments?: number;
  timeLimitSeconds?: number;
  runner?: Runner;
  signal: AbortSignal;
}

export interface StartedSearch {
  search: Search;
  settings: SearchSettings;
  repoRoot: string;
  resumed: boolean;
  /** True when no task file was found and the task was inferred. */
  inferred: boolean;
  /** Whether a model reviews each experiment that would be kept (the llm proposer's, unless switched off). */
  reviewed: boolean;
  /** What the runs must not see and what is blanked from the search's output, errors included. */
  secrets: Secrets;
  release(): void;
}

export async function openSearch(opts: StartOptions): Promise<StartedSearch> {
  const fileAbs = opts.file ? path.resolve(opts.cwd, opts.file) : undefined;
  if (fileAbs && (!existsSync(fileAbs) || !statSync(fileAbs).isFile())) {
    throw new RatchetError(`file not found: ${opts.file}`, 'pass the path of the training script or kernel to improve');
  }
  const repoRoot = await findRepoRoot(fileAbs ? path.dirname(fileAbs) : opts.cwd);
  let settings: SearchSettings;
  let resumed = false;
  let inferred = false;
  if (opts.resume) {
    settings = findSearchToResume(repoRoot, fileAbs, opts.searchId);
    resumed = true;
    settings = {
      ...settings,
      parallel: opts.parallel ?? settings.parallel,
      maxRuns: opts.maxExperiments ?? settings.maxRuns,
      timeLimitSeconds: opts.timeLimitSeconds ?? settings.timeLimitSeconds,
    };
  } else {
    if (!fileAbs) throw new RatchetError('no file given', 'run `ratchet search FILE`, or `ratchet search --resume`');
    const taskFile = opts.taskFile ? path.resolve(opts.cwd, opts.taskFile) : findTaskFileFor(fileAbs, repoRoot);
    const task = taskFile ? loadTaskFile(taskFile, repoRoot) : inferTask(fileAbs, repoRoot, opts, await findPython());
    inferred = !taskFile;
    if (taskFile) applyOverrides(task, opts);
    const file = repoRelative(repoRoot, fileAbs);
    if (!task.editable.includes(file)) {
      throw new RatchetError(`${file} is not an editable file of the task ${taskFile}`, 'add it to "editable", or pick the task file that names it');
    }
    const id = newSearchId(file);
    settings = {
      id,
      file,
      task,
      proposer: opts.proposer ?? 'tune',
      proposerOptions: opts.proposerOptions ? { ...opts.proposerOptions } : undefined,
      parallel: opts.parallel ?? 1,
      threads: opts.threads,
      seed: opts.seed ?? 0,
      baselineCommit: '',
      createdAt: new Date().toISOString(),
      maxRuns: opts.maxExperiments,
      timeLimitSeconds: opts.timeLimitSeconds,
    };
  }
  // Check everything that can fail before taking the lock or writing anything.
  checkEnvNames(opts.scrubEnv ?? [], '--scrub-env / ratchet.scrubEnv');
  const proposerOptions: ProposerOptions = { ...(settings.proposerOptions as ProposerOptions), ...opts.proposerOptions };
  settings.scrubEnv = scrubNames({ stored: settings.scrubEnv, listed: opts.scrubEnv, model: proposerOptions.model });
  const secrets = Secrets.of(settings.scrubEnv, process.env, [opts.proposerRuntime?.apiKey]);
  const proposer = createProposer(settings.proposer, proposerOptions, { ...opts.proposerRuntime, redact: secrets.redact });
  const release = acquireLock(repoRoot, settings.file, settings.id);
  try {
    if (!resumed) {
      settings.baselineCommit = await snapshotWorkingTree(repoRoot, `ratchet baseline for ${settings.file}`);
    }
    writeSettings(repoRoot, settings);
    const runner =
      opts.runner ??
      new LocalRunner({ parallel: settings.parallel, gpus: opts.gpus, worktreeRoot: path.join(ratchetDir(repoRoot), 'worktrees', settings.id) });
    const search = new Search({
      repoRoot,
      settings,
      proposer,
      runner,
      maxExperiments: settings.maxRuns,
      threads: settings.threads,
      reviewer: proposer.reviewer,
      secrets,
      deadline: settings.timeLimitSeconds !== undefined ? Date.now() + settings.timeLimitSeconds * 1000 : undefined,
      signal: opts.signal,
    });
    return { search, settings, repoRoot, resumed, inferred, reviewed: proposer.reviewer !== undefined, secrets, release };
  } catch (e) {
    release();
    throw e;
  }
}

function applyOverrides(task: SearchSettings['task'], opts: InferOptions): void {
  if (opts.run && task.kernel) {
    throw new RatchetError('--run does not apply to a kernel task: its runs are the harness\'s kernel check', 'drop --run, or give a task file with "run" instead of "kernel"');
  }
  if (opts.device && !task.kernel) {
    throw new RatchetError('--device is for kernel tasks, and this task has no "kernel"', 'drop --device, or add "kernel" to the task file');
  }
  if (opts.run) task.run = opts.run;
  if (opts.device) task.kernel = { ...task.kernel!, device: opts.device };
  if (opts.metric) task.metric = { ...task.metric, name: opts.metric };
  if (opts.direction) task.metric = { ...task.metric, direction: opts.direction };
  if (opts.budgetSeconds) task.budgetSeconds = opts.budgetSeconds;
  if (opts.repeats) task.repeats = opts.repeats;
}

function findSearchToResume(repoRoot: string, fileAbs: string | undefined, id: string | undefined): SearchSettings {
  if (id) return readSettings(repoRoot, id);
  const file = fileAbs ? repoRelative(repoRoot, fileAbs) : undefined;
  const candidates = listSearches(repoRoot).filter((s) => !file || s.file === file);
  const latest = candidates[candidates.length - 1];
  if (!latest) {
    throw new RatchetError(`no search to resume${file ? ` on ${file}` : ''}`, 'start one with `ratchet search FILE`');
  }
  return latest;
}
