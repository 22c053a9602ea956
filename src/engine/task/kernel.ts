// Kernel tasks: a candidate file checked and timed by the harness's `kernel` mode against a
// reference (remote-runner/PROTOCOL.md). Recognises the two folder layouts the harness reads, infers
// a task for a candidate in one, and resolves the `kernel` field of a task file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import { listFolder } from '../util/fs';
import type { Direction, KernelSpec, Task } from '../types';

/** Per-run budget of an inferred kernel task: both workers, torch's import and every shape. */
export const KERNEL_BUDGET_SECONDS = 600;
/** Baseline runs of an inferred kernel task: the timing noise is small next to a training run's. */
export const KERNEL_REPEATS = 2;

export type KernelLayout =
  /** Ratchet / KernelBench task folder: task.json + reference.py. */
  | { kind: 'task'; folder: string }
  /** SOL-ExecBench problem folder: definition.json + workload.jsonl. */
  | { kind: 'problem'; folder: string };

/** The kernel layout of a file's folder (absolute), or undefined when it is not one. */
export function kernelLayoutOf(fileAbs: string): KernelLayout | undefined {
  const folder = path.dirname(fileAbs);
  const has = (name: string) => existsSync(path.join(folder, name));
  if (has('task.json') && has(referenceName(folder))) return { kind: 'task', folder };
  if (has('definition.json') && has('workload.jsonl')) return { kind: 'problem', folder };
  return undefined;
}

/**
 * The kernel task with each of its paths mapped by `place`: from the task file's folder to the
 * repository and back, or from the repository into a worktree or a run folder.
 */
export function placeKernel(kernel: KernelSpec, place: (p: string) => string): KernelSpec {
  // Only the fields present: a task has no `problem` key, not an undefined one.
  const placed: KernelSpec = { ...kernel, candidate: place(kernel.candidate) };
  if (kernel.task !== undefined) placed.task = place(kernel.task);
  if (kernel.problem !== undefined) placed.problem = place(kernel.problem);
  return placed;
}

/** The reference file a task.json names (default reference.py); task.json unreadable: the default. */
function referenceName(folder: string): string {
  return taskJson(folder)?.reference ?? 'reference.py';
}

function taskJson(folder: string): { reference?: string; baseline?: string } | undefined {
  try {
    const spec = JSON.parse(readFileSync(path.join(folder, 'task.json'), 'utf8')) as unknown;
    return spec && typeof spec === 'object' ? (spec as { reference?: string; baseline?: string }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The task's own files, which no proposal and no run may change: what defines correctness and the
 * score (task.json, the reference, the scoring baseline; a problem's definition, workloads,
 * roofline and data). Absolute paths; never the candidate.
 */
export function kernelOwnFiles(layout: KernelLayout, candidateAbs: string): string[] {
  const { folder } = layout;
  const names = new Set<string>();
  if (layout.kind === 'task') {
    const spec = taskJson(folder);
    names.add('task.json');
    names.add(spec?.reference ?? 'reference.py');
    if (typeof spec?.baseline === 'string') names.add(spec.baseline);
    for (const name of listFolder(folder)) if (/^baseline_.*\.py$/.test(name)) names.add(name);
  } else {
    for (const name of ['definition.json', 'workload.jsonl', 'roofline.json']) names.add(name);
    for (const name of listFolder(folder)) if (name.endsWith('.safetensors')) names.add(name);
  }
  return [...names]
    .map((n) => path.resolve(folder, n))
    .filter((f) => f !== path.resolve(candidateAbs) && existsSync(f) && statSync(f).isFile())
    .sort();
}

/**
 * The metric of a kernel task: sol_score (higher is better) where the harness can compute it, that
 * is on a GPU in its table of peaks; on the CPU there is no speed-of-light bound and sol_score is
 * null, so the speedup over the reference (geometric mean over shapes, higher is better) is used.
 * Undefined device: decided from the baseline's runs (see `kernelMetricFromRuns`).
 */
export function kernelMetric(device: KernelSpec['device']): { name: string; direction: Direction } {
  return { name: device === 'cpu' ? 'speedup' : device === 'cuda' ? 'sol_score' : '', direction: 'higher' };
}

/** The metric for a kernel task whose device was not given: sol_score when every baseline run has one. */
export function kernelMetricFromRuns(runs: { metrics: Record<string, number> }[]): string {
  return runs.every((r) => Number.isFinite(r.metrics.sol_score)) ? 'sol_score' : 'speedup';
}

/** Repo-relative POSIX path (the caller has checked it is inside the repo). */
function rel(repoRoot: string, abs: string): string {
  return path.relative(repoRoot, abs).split(path.sep).join('/');
}

export interface KernelInferOptions {
  metric?: string;
  direction?: Direction;
  budgetSeconds?: number;
  repeats?: number;
  device?: KernelSpec['device'];
}

/** A kernel task for a candidate file in a kernel layout: it is the only editable file. */
export function inferKernelTask(fileAbs: string, layout: KernelLayout, repoRoot: string, opts: KernelInferOptions): Task {
  const folder = rel(repoRoot, layout.folder);
  const candidate = rel(repoRoot, fileAbs);
  const kernel: KernelSpec = layout.kind === 'task' ? { task: folder, candidate } : { problem: folder, candidate };
  if (opts.device) kernel.device = opts.device;
  const metric = kernelMetric(opts.device);
  return {
    name: `${path.basename(layout.folder)}-${path.basename(fileAbs).replace(/\.[^.]+$/, '')}`,
    repoRoot,
    editable: [candidate],
    kernel,
    cwd: '',
    metric: { name: opts.metric ?? metric.name, direction: opts.direction ?? metric.direction },
    budgetSeconds: opts.budgetSeconds ?? KERNEL_BUDGET_SECONDS,
    protected: kernelOwnFiles(layout, fileAbs).map((f) => rel(repoRoot, f)),
    repeats: opts.repeats ?? KERNEL_REPEATS,
  };
}

/** Checks a task file's `kernel` field (paths already repo-relative) against the files there. */
export function checkKernelSpec(kernel: KernelSpec, repoRoot: string, taskFile: string): void {
  if ((kernel.task === undefined) === (kernel.problem === undefined)) {
    throw new RatchetError(
      `${taskFile}: "kernel" needs exactly one of "task" and "problem"`,
      'give "task" for a folder with task.json + reference.py, or "problem" for a SOL-ExecBench folder with definition.json + workload.jsonl',
    );
  }
  const folder = path.join(repoRoot, kernel.task ?? kernel.problem!);
  const needed = kernel.task !== undefined ? ['task.json'] : ['definition.json', 'workload.jsonl'];
  for (const name of needed) {
    if (!existsSync(path.join(folder, name))) {
      throw new RatchetError(
        `${taskFile}: kernel ${kernel.task !== undefined ? 'task' : 'problem'} folder ${kernel.task ?? kernel.problem} has no ${name}`,
        'fix the folder in "kernel" (paths are relative to the task file)',
      );
    }
  }
  if (!existsSync(path.join(repoRoot, kernel.candidate))) {
    throw new RatchetError(`${taskFile}: kernel candidate ${kernel.candidate} does not exist`, 'fix "kernel.candidate" (paths are relative to the task file)');
  }
}
