// Review: the diff editor between an experiment and its parent (or the baseline), both sides
// virtual documents, with the hypothesis and the result in the title.
import * as vscode from 'vscode';
import type { RatchetApi } from './client';
import { ExperimentDocuments } from './experimentDocuments';

export async function reviewExperiment(api: RatchetApi, searchId: string, experimentId: string, against: 'parent' | 'baseline' = 'parent'): Promise<void> {
  const diff = await api.experimentDiff({ searchId, experimentId, against });
  const left = ExperimentDocuments.uri(searchId, diff.leftId, diff.file);
  const right = ExperimentDocuments.uri(searchId, experimentId, diff.file);
  await vscode.commands.executeCommand('vscode.diff', left, right, diff.title, { preview: true });
}
