// Serves ratchet-experiment:/<search>/<experiment>/<file>: a file as an experiment (or the
// baseline) left it, read from the experiment's commit through the engine. Read-only by nature.
import * as vscode from 'vscode';
import { EXPERIMENT_SCHEME, experimentDocPath, parseExperimentDocPath } from '../server/protocol';
import type { RatchetApi } from './client';

export class ExperimentDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly api: RatchetApi) {}

  static uri(searchId: string, experimentId: string, file: string): vscode.Uri {
    return vscode.Uri.from({ scheme: EXPERIMENT_SCHEME, path: experimentDocPath(searchId, experimentId, file) });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = parseExperimentDocPath(uri.path);
    if (!ref) throw new Error(`not a Ratchet experiment document: ${uri.toString()}`);
    const experimentId = ref.experimentId === 'e0' ? 'baseline' : ref.experimentId;
    return this.api.fileAt({ searchId: ref.searchId, experimentId, file: ref.file });
  }
}
