// A training task's evaluation contract: which protected function computes the metric (so the
// harness can capture its value inside the run), and the training budget it promises. Inferred
// where the layout makes it plain — the file imports a module beside it that defines one
// `evaluate*` function, as autoresearch's train.py imports prepare.py's evaluate_bpb — and checked
// where a task file states it.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../errors';
import type { ContractField, Task, TrainContract } from '../types';

export interface InferredEvaluation {
  /** `path:function`, path repo-relative. */
  evaluate: string;
  /** The module's file, repo-relative: it becomes protected. */
  file: string;
  trainingBudgetSeconds?: number;
}

/** Top-level modules a Python file imports (`import a.b` → `a.b`, `from a import x` → `a`), with
 * the names it takes from each. */
export function pythonImports(source: string): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const add = (module: string, name?: string) => {
    const names = found.get(module) ?? new Set<string>();
    if (name) names.add(name);
    found.set(module, names);
  };
  // Parenthesised `from x import (a,\n b)` joined onto one line first.
  const text = source.replace(/\(\s*([^()]*?)\)/gs, (_, inner: string) => `(${inner.replace(/\s*\n\s*/g, ' ')})`);
  for (const line of text.split('\n')) {
    const from = /^\s*from\s+([A-Za-z_][\w.]*)\s+import\s+\(?([^)#]*)/.exec(line);
    if (from) {
      for (const part of from[2]!.split(',')) add(from[1]!, part.trim().split(/\s+as\s+/)[0]);
      continue;
    }
    const plain = /^\s*import\s+([^#]+)/.exec(line);
    if (plain) for (const part of plain[1]!.split(',')) add(part.trim().split(/\s+as\s+/)[0]!.trim());
  }
  return found;
}

/** Top-level functions (`def name(` at the start of a line) of a Python module. */
function topLevelFunctions(source: string): string[] {
  return [...source.matchAll(/^(?:async\s+)?def\s+(\w+)\s*\(/gm)].map((m) => m[1]!);
}

/** Top-level `def evaluate…(` functions of a Python module. */
export function evaluationFunctions(source: string): string[] {
  return topLevelFunctions(source).filter((name) => name.startsWith('evaluate'));
}

/** A TIME_BUDGET = <seconds> constant at the top level of a module. */
export function timeBudgetConstant(source: string): number | undefined {
  const m = /^TIME_BUDGET\s*(?::\s*\w+\s*)?=\s*([0-9][0-9_]*(?:\.[0-9_]+)?(?:\s*\*\s*[0-9][0-9_]*(?:\.[0-9_]+)?)*)\s*(?:#.*)?$/m.exec(source);
  if (!m) return undefined;
  const value = m[1]!.split('*').reduce((product, factor) => product * Number(factor.trim().replace(/_/g, '')), 1);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * The evaluation function of `editable` (repo-relative), from the modules beside it that it
 * imports (`allowed`, when given, says which repo-relative files may hold it, e.g. the protected
 * ones). Exactly one `evaluate*` function across them, or exactly one the file imports by name;
 * else undefined.
 */
export function inferEvaluation(repoRoot: string, editable: string, allowed?: (file: string) => boolean): InferredEvaluation | undefined {
  let source: string;
  try {
    source = readFileSync(path.join(repoRoot, editable), 'utf8');
  } catch {
    return undefined;
  }
  const folder = path.posix.dirname(editable);
  const candidates: { file: string; fn: string; importedByName: boolean; text: string }[] = [];
  for (const [module, names] of pythonImports(source)) {
    const file = path.posix.normalize(path.posix.join(folder, module.split('.').join('/') + '.py'));
    if (file === editable || (allowed && !allowed(file)) || !existsSync(path.join(repoRoot, file))) continue;
    const text = readFileSync(path.join(repoRoot, file), 'utf8');
    for (const fn of evaluationFunctions(text)) candidates.push({ file, fn, importedByName: names.has(fn), text });
  }
  const named = candidates.filter((c) => c.importedByName);
  const pick = candidates.length === 1 ? candidates[0] : named.length === 1 ? named[0] : undefined;
  if (!pick) return undefined;
  const budget = timeBudgetConstant(pick.text);
  return { evaluate: `${pick.file}:${pick.fn}`, file: pick.file, ...(budget !== undefined ? { trainingBudgetSeconds: budget } : {}) };
}

/** Splits `path:function`. */
export function splitEvaluate(spec: string): { file: string; fn: string } {
  const i = spec.lastIndexOf(':');
  return { file: spec.slice(0, i), fn: spec.slice(i + 1) };
}

/**
 * Checks a stated evaluation (repo-relative `path:function`): the file exists and defines the
 * function. Its file is protected by the caller. Returns the file's source.
 */
export function checkEvaluation(task: Pick<Task, 'repoRoot' | 'editable'>, evaluate: string, where: string): string {
  const { file, fn } = splitEvaluate(evaluate);
  const full = path.join(task.repoRoot, file);
  if (!existsSync(full)) {
    throw new RatchetError(`${where}: the evaluation file ${file} does not exist`, 'fix "evaluate": PATH:FUNCTION, the path relative to the task file');
  }
  if (task.editable.includes(file)) {
    throw new RatchetError(
      `${where}: the evaluation ${evaluate} is in an editable file, so a proposal could change how it is scored`,
      'move the evaluation into a module of its own (e.g. prepare.py) and import it from the training script',
    );
  }
  const source = readFileSync(full, 'utf8');
  if (!topLevelFunctions(source).includes(fn)) throw new RatchetError(`${where}: ${file} defines no top-level function ${fn}`, 'fix "evaluate": PATH:FUNCTION');
  return source;
}

const CONTRACT_FIELDS: readonly ContractField[] = ['evaluate', 'trainingBudgetSeconds', 'trainingAllowanceSeconds', 'evaluationOnly', 'probes', 'guard'];

/** What the harness enforces inside a train run of the task; undefined for a kernel task. */
export function trainContract(task: Task): TrainContract | undefined {
  if (task.kernel) return undefined;
  const contract: Record<string, unknown> = { metric: task.metric.name };
  for (const field of CONTRACT_FIELDS) if (task[field] !== undefined) contract[field] = task[field];
  return contract as TrainContract;
}
