// Merge: the experiment's change, from the baseline, applied to the user's file as one undoable
// edit after they confirm. Their unsaved edits are kept: the patch goes on top of the document as
// it is, and when it does not fit, the conflict is shown in a diff instead of being forced.
import * as vscode from 'vscode';
import type { RatchetApi } from './client';
import { ExperimentDocuments } from './experimentDocuments';
import { mergedText, minimalEdits } from './mergeText';

export type MergeOutcome = 'merged' | 'cancelled' | 'conflict' | 'unchanged';

export async function mergeExperiment(api: RatchetApi, searchId: string, experimentId: string): Promise<MergeOutcome> {
  const plan = await api.mergePlan({ searchId, experimentId });
  const uri = vscode.Uri.file(plan.path);
  const doc = await vscode.workspace.openTextDocument(uri);
  const current = doc.getText();
  const merged = mergedText(current, plan);
  if (merged === current) {
    void vscode.window.showInformationMessage(`${vscode.workspace.asRelativePath(uri)} already has ${experimentId}'s change.`);
    return 'unchanged';
  }
  if (merged === undefined) {
    const file = vscode.workspace.asRelativePath(uri);
    await vscode.commands.executeCommand('vscode.diff', uri, ExperimentDocuments.uri(searchId, experimentId, file), `${file} (yours) ↔ ${experimentId}: conflict, merge by hand`);
    void vscode.window.showWarningMessage(`${experimentId} does not apply to ${file} as it is now: your edits overlap its change. The diff shows both; nothing was changed.`);
    return 'conflict';
  }
  const choice = await vscode.window.showWarningMessage(
    `Merge ${experimentId} into ${vscode.workspace.asRelativePath(uri)}?`,
    { modal: true, detail: 'The change is applied to the editor as one edit: Undo takes it back, and nothing is saved until you save.' },
    'Merge',
  );
  if (choice !== 'Merge') return 'cancelled';
  const edits = minimalEdits(current, merged);
  const first = doc.positionAt(edits[0]?.start ?? 0);
  // The edit goes into an open editor and is not a refactoring: VS Code saves edits to files
  // that are not open (files.refactoring.autoSave), and the user decides when to save.
  const editor = await vscode.window.showTextDocument(doc, { preview: false });
  const edit = new vscode.WorkspaceEdit();
  for (const e of edits) edit.replace(uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.text);
  if (!(await vscode.workspace.applyEdit(edit, { isRefactoring: false }))) throw new Error(`could not edit ${uri.fsPath}`);
  // Show where the change landed, so the person sees what they just accepted.
  editor.selection = new vscode.Selection(first, first);
  editor.revealRange(new vscode.Range(first, first), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  return 'merged';
}
