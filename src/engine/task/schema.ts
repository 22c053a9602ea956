// Validates task files against the JSON schema shipped in the package (the same file VS Code uses
// to complete and check them), and turns each error into a message that points at the field.
import Ajv, { type ErrorObject } from 'ajv';
import { findNodeAtLocation, parseTree, getNodeValue, printParseErrorCode, type ParseError } from 'jsonc-parser';
import taskSchema from '../../../schemas/task.schema.json';
import { RatchetError } from '../errors';
import type { ContractField, Task } from '../types';

export interface TaskFileContent extends Pick<Task, ContractField> {
  name?: string;
  description?: string;
  editable: string[];
  /** Absent only in a kernel task. */
  run?: string;
  kernel?: { task?: string; problem?: string; candidate: string; device?: 'cuda' | 'cpu' };
  cwd?: string;
  metric: { name: string; direction: 'lower' | 'higher'; bound?: number };
  budgetSeconds?: number;
  protected?: string[];
  repeats?: number;
  setup?: string;
  env?: Record<string, string>;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile<TaskFileContent>(taskSchema);

/** Parses and validates a task file's text; throws a RatchetError listing every problem by line. */
export function parseTaskFile(text: string, fileLabel: string): TaskFileContent {
  const parseErrors: ParseError[] = [];
  const root = parseTree(text, parseErrors, { allowTrailingComma: false, disallowComments: true });
  if (parseErrors.length > 0 || !root) {
    const lines = parseErrors.map((e) => `${fileLabel}:${position(text, e.offset)}: ${printParseErrorCode(e.error)}`);
    throw new RatchetError(`task file is not valid JSON:\n  ${lines.join('\n  ')}`, 'fix the JSON syntax at the position shown');
  }
  const value: unknown = getNodeValue(root);
  if (validate(value)) return value;
  // `if` only says that its `then`/`else` failed, which has its own error.
  const problems = (validate.errors ?? []).filter((err) => err.keyword !== 'if').map((err) => describeError(err, text, root, fileLabel));
  throw new RatchetError(
    `task file has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    'fix the fields shown; the schema is schemas/task.schema.json (VS Code completes and checks it)',
    'TASK_INVALID',
  );
}

function describeError(err: ErrorObject, text: string, root: ReturnType<typeof parseTree>, fileLabel: string): string {
  const path = err.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  let field = path.join('.') || '(top level)';
  let message = err.message ?? 'is invalid';
  if (err.keyword === 'additionalProperties') {
    const extra = String((err.params as { additionalProperty: string }).additionalProperty);
    path.push(extra);
    field = path.join('.');
    message = 'is not a known field';
  } else if (err.keyword === 'required') {
    const missing = String((err.params as { missingProperty: string }).missingProperty);
    field = [...path, missing].join('.');
    message = path.length === 0 && missing === 'run' ? 'is required (or "kernel", for a kernel task)' : 'is required';
  } else if (err.keyword === 'not' && err.schemaPath === '#/else/not') {
    // Only "run" in a kernel task trips this.
    path.push('run');
    field = 'run';
    message = 'is not used by a kernel task (its runs are the harness\'s kernel check): remove it';
  } else if (err.keyword === 'enum') {
    message = `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const node = root ? findNodeAtLocation(root, path) : undefined;
  const where = node ? position(text, node.offset) : position(text, root?.offset ?? 0);
  return `${fileLabel}:${where}: ${field} ${message}`;
}

function position(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}
