// The text side of a merge, without VS Code: where the experiment's change lands in the user's
// document, and the smallest edits that put it there.
import { applyPatch, diffLines } from 'diff';

/** The merged text, or undefined when the patch does not fit the current text. Pure. */
export function mergedText(current: string, plan: { baseline: string; result: string; patch: string }): string | undefined {
  if (current === plan.result) return current;
  if (current === plan.baseline) return plan.result;
  const merged = applyPatch(current, plan.patch, { fuzzFactor: 0 });
  return merged === false ? undefined : merged;
}

/**
 * The merge as small replacements (character offsets into `current`), so the editor keeps the
 * user's cursor, folds and diagnostics on the lines the merge does not touch. Pure.
 */
export function minimalEdits(current: string, merged: string): { start: number; end: number; text: string }[] {
  const edits: { start: number; end: number; text: string }[] = [];
  let offset = 0;
  for (const part of diffLines(current, merged)) {
    const last = edits[edits.length - 1];
    if (part.removed) {
      if (last && last.end === offset && last.text === '') last.end += part.value.length;
      else edits.push({ start: offset, end: offset + part.value.length, text: '' });
      offset += part.value.length;
    } else if (part.added) {
      if (last && last.end === offset) last.text += part.value;
      else edits.push({ start: offset, end: offset, text: part.value });
    } else {
      offset += part.value.length;
    }
  }
  return edits;
}
