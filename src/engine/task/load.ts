// Finds, loads and infers tasks. Paths in a task file are relative to its own folder; inside the
// engine every path is repo-relative POSIX, so a task means the same thing in every worktree.
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import picomatch from 'picomatch';
import { listFolder } from '../util/fs';
import type { Direction, GuardSpec, Task } from '../types';
import { checkEvaluation, inferEvaluation, splitEvaluate, timeBudgetConstant } from './evaluation';
import { checkKernelSpec, inferKernelTask, kernelLayoutOf, placeKernel } from './kernel';
import { parseTaskFile, type TaskFileContent } from './schema';

export const TASK_FILE_NAME = 'ratchet.task.json';
export const DEFAULT_BUDGET_SECONDS = 600;
export const DEFAULT_REPEATS = 3;

/** Repo-relative POSIX path of an absolute path, refusing anything outside the repo. */
export function repoRelative(repoRoot: string, absolute: string): string {
  const rel = path.relative(repoRoot, absolute);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new RatchetError(`${absolute} is outside the repository ${repoRoot}`, 'keep every task path inside the repository');
  }
  return rel.split(path.sep).join('/');
}

export function loadTaskFile(taskFile: string, repoRoot: string): Task {
  const absolute = path.resolve(taskFile);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch {
    throw new RatchetError(`task file not found: ${taskFile}`, 'check the path, or omit --task to infer a task for the file');
  }
  const content = parseTaskFile(text, path.relative(process.cwd(), absolute) || absolute);
  const folder = path.dirname(absolute);
  const resolve = (p: string) => repoRelative(repoRoot, path.resolve(folder, p));
  const editable = content.editable.map(resolve);
  for (const file of editable) {
    if (!existsSync(path.join(repoRoot, file))) {
      throw new RatchetError(`${taskFile}: editable file ${file} does not exist`, 'fix the path in "editable" (paths are relative to the task file)');
    }
  }
  const kernel = content.kernel ? placeKernel(content.kernel, resolve) : undefined;
  if (kernel) checkKernelSpec(kernel, repoRoot, taskFile);
  const protectedGlobs = (content.protected ?? []).map(resolve);
  const evaluationOnly = (content.evaluationOnly ?? []).map(resolve);
  const contract = evaluationContract(content, resolve, repoRoot, editable, protectedGlobs, taskFile, kernel !== undefined);
  return {
    name: content.name ?? path.basename(folder),
    description: content.description,
    repoRoot,
    taskFile: absolute,
    editable,
    ...(content.run !== undefined ? { run: content.run } : {}),
    ...(kernel ? { kernel } : {}),
    cwd: resolve(content.cwd ?? '.').replace(/^\.$/, ''),
    metric: content.metric,
    budgetSeconds: content.budgetSeconds ?? DEFAULT_BUDGET_SECONDS,
    // The evaluation's file and the evaluation-only data are protected whether or not listed.
    protected: unique([...protectedGlobs, ...(contract.evaluate ? [splitEvaluate(contract.evaluate).file] : []), ...evaluationOnly]),
    repeats: content.repeats ?? DEFAULT_REPEATS,
    setup: content.setup,
    env: content.env,
    ...contract,
    ...(evaluationOnly.length > 0 ? { evaluationOnly } : {}),
    ...(content.probes ? { probes: content.probes } : {}),
    ...(content.guard ? { guard: checkGuard(content.guard, taskFile) } : {}),
  };
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** The task file's evaluation and training budget; inferred from its protected modules when the
 * file names no evaluation (a training task only). */
function evaluationContract(
  content: TaskFileContent,
  resolve: (p: string) => string,
  repoRoot: string,
  editable: string[],
  protectedGlobs: string[],
  taskFile: string,
  isKernel: boolean,
): Pick<Task, 'evaluate' | 'trainingBudgetSeconds' | 'trainingAllowanceSeconds'> {
  const out: Pick<Task, 'evaluate' | 'trainingBudgetSeconds' | 'trainingAllowanceSeconds'> = {};
  if (content.evaluate) {
    if (isKernel) throw new RatchetError(`${taskFile}: "evaluate" is for training tasks; a kernel task's metric is measured by the harness`, 'remove "evaluate"');
    const { file, fn } = splitEvaluate(content.evaluate);
    out.evaluate = `${resolve(file)}:${fn}`;
    const budget = timeBudgetConstant(checkEvaluation({ repoRoot, editable }, out.evaluate, taskFile));
    if (budget !== undefined) out.trainingBudgetSeconds = budget;
  } else if (!isKernel && editable[0]) {
    const inferred = inferEvaluation(repoRoot, editable[0], picomatch(protectedGlobs, { dot: true }));
    if (inferred) {
      out.evaluate = inferred.evaluate;
      if (inferred.trainingBudgetSeconds !== undefined) out.trainingBudgetSeconds = inferred.trainingBudgetSeconds;
    }
  }
  if (content.trainingBudgetSeconds !== undefined) out.trainingBudgetSeconds = content.trainingBudgetSeconds;
  if (content.trainingAllowanceSeconds !== undefined) out.trainingAllowanceSeconds = content.trainingAllowanceSeconds;
  return out;
}

/** A guard is a function or a command; a function lives outside the repository, on the host (an
 * absolute or ~ path; the schema checks its form). */
function checkGuard(guard: GuardSpec, taskFile: string): GuardSpec {
  const g = guard as { function?: string; command?: string; metric?: string };
  if ((g.function === undefined) === (g.command === undefined)) {
    throw new RatchetError(`${taskFile}: guard needs exactly one of "function" and "command"`, 'give "function": "/ABSOLUTE/PATH.py:FUNCTION", or "command" with "metric"');
  }
  if (g.command !== undefined && !g.metric) throw new RatchetError(`${taskFile}: guard.command needs "metric", the name it prints`, 'add "metric" to "guard"');
  if ('function' in guard && !/^(\/|~\/)/.test(guard.function)) {
    throw new RatchetError(
      `${taskFile}: guard.function ${guard.function} is not an absolute path`,
      'a guard lives on the host, outside the repository (where no patch or prompt can see it): give ABSOLUTE_PATH:FUNCTION or ~/PATH:FUNCTION',
    );
  }
  return { ...guard };
}

/**
 * Looks for a task file that names `file` among its editable files: `ratchet.task.json` or
 * `*.ratchet.json`, from the file's folder up to the repo root.
 */
export function findTaskFileFor(file: string, repoRoot: string): string | undefined {
  const target = path.resolve(file);
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    for (const name of listFolder(dir)) {
      if (name !== TASK_FILE_NAME && !name.endsWith('.ratchet.json')) continue;
      const candidate = path.join(dir, name);
      try {
        const content = JSON.parse(readFileSync(candidate, 'utf8')) as Partial<TaskFileContent>;
        if (content.editable?.some((e) => path.resolve(dir, e) === target)) return candidate;
      } catch {
        // An unreadable task file that may not even be about this file: loading it explicitly
        // (--task) reports its errors.
      }
    }
    if (dir === repoRoot || dir === path.dirname(dir)) return undefined;
  }
}

export interface InferOptions {
  run?: string;
  /** Where a kernel task's candidate runs (kernel tasks only). */
  device?: 'cuda' | 'cpu';
  metric?: string;
  direction?: Direction;
  budgetSeconds?: number;
  repeats?: number;
}

/** Metric names that usually mean "higher is better"; everything else defaults to lower. */
const HIGHER_IS_BETTER = /acc|score|f1|bleu|reward|throughput|tflops|tok(en)?s?_per|speedup|mfu|auc|precision|recall/i;

export function guessDirection(metricName: string): Direction {
  return HIGHER_IS_BETTER.test(metricName) ? 'higher' : 'lower';
}

/**
 * A task for a file that has no task file: run it with Python from its own folder, read the metric
 * from its output. The metric name may stay empty here; the baseline run then picks it.
 */
export function inferTask(file: string, repoRoot: string, opts: InferOptions, python: string): Task {
  const absolute = path.resolve(file);
  const rel = repoRelative(repoRoot, absolute);
  // A candidate beside a reference is a kernel task, unless the user asked for a command.
  const layout = opts.run === undefined ? kernelLayoutOf(absolute) : undefined;
  if (layout) return inferKernelTask(absolute, layout, repoRoot, opts);
  if (opts.device) {
    throw new RatchetError(
      `--device is for kernel tasks, and ${rel} is not in one`,
      'a kernel task is a candidate in a folder with task.json + reference.py, or definition.json + workload.jsonl; for a training script set the device in the script',
    );
  }
  const folder = path.dirname(rel) === '.' ? '' : path.dirname(rel);
  const metricName = opts.metric ?? '';
  // A module beside the script that it imports and that defines its evaluation (autoresearch's
  // prepare.py): that module is protected and its function's value is the metric.
  const evaluation = inferEvaluation(repoRoot, rel);
  return {
    name: path.basename(file).replace(/\.[^.]+$/, ''),
    repoRoot,
    editable: [rel],
    run: opts.run ?? `${python} ${shellQuote(path.basename(file))}`,
    cwd: folder,
    metric: { name: metricName, direction: opts.direction ?? (metricName ? guessDirection(metricName) : 'lower') },
    budgetSeconds: opts.budgetSeconds ?? DEFAULT_BUDGET_SECONDS,
    protected: evaluation ? [evaluation.file] : [],
    repeats: opts.repeats ?? DEFAULT_REPEATS,
    ...(evaluation ? { evaluate: evaluation.evaluate } : {}),
    ...(evaluation?.trainingBudgetSeconds !== undefined ? { trainingBudgetSeconds: evaluation.trainingBudgetSeconds } : {}),
  };
}

/** Writes a task as a task file beside its first editable file; returns the file's path. */
export function saveTask(task: Task): string {
  const folderRel = path.posix.dirname(task.editable[0]!);
  const folder = path.join(task.repoRoot, folderRel);
  const target = path.join(folder, TASK_FILE_NAME);
  if (existsSync(target)) throw new RatchetError(`${target} already exists`, 'edit it, or pass it with --task');
  // Both sides are repo-relative: anchor them at a fake root so `relative` never consults the cwd.
  const rel = (p: string) => path.posix.relative(`/${folderRel}`, `/${p}`) || '.';
  const schemaPath = rel('schemas/task.schema.json');
  const hasSchema = existsSync(path.join(task.repoRoot, 'schemas/task.schema.json')) && statSync(path.join(task.repoRoot, 'schemas/task.schema.json')).isFile();
  const content: Record<string, unknown> = {
    ...(hasSchema ? { $schema: schemaPath } : {}),
    name: task.name,
    editable: task.editable.map(rel),
    ...(task.run !== undefined ? { run: task.run } : {}),
    ...(task.kernel ? { kernel: placeKernel(task.kernel, rel) } : {}),
    ...(rel(task.cwd) !== '.' ? { cwd: rel(task.cwd) } : {}),
    metric: task.metric,
    budgetSeconds: task.budgetSeconds,
    protected: task.protected.map(rel),
    repeats: task.repeats,
    ...(task.evaluate ? { evaluate: `${rel(splitEvaluate(task.evaluate).file)}:${splitEvaluate(task.evaluate).fn}` } : {}),
    ...(task.trainingBudgetSeconds !== undefined ? { trainingBudgetSeconds: task.trainingBudgetSeconds } : {}),
    ...(task.trainingAllowanceSeconds !== undefined ? { trainingAllowanceSeconds: task.trainingAllowanceSeconds } : {}),
    ...(task.evaluationOnly ? { evaluationOnly: task.evaluationOnly.map(rel) } : {}),
    ...(task.probes ? { probes: task.probes } : {}),
    ...(task.guard ? { guard: task.guard } : {}),
  };
  writeFileSync(target, JSON.stringify(content, null, 2) + '\n');
  return target;
}

/** POSIX shell single-quoting, for the few commands the engine itself composes. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
