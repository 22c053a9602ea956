// Starts the engine's language server (dist/server.js) over IPC, as the lsp-sample does, and
// gives the rest of the extension typed ratchet/* calls.
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  Notifications,
  Requests,
  type ExperimentDiff,
  type ExperimentDiffParams,
  type ExperimentRef,
  type ExperimentView,
  type FileAtParams,
  type LogLine,
  type MergePlan,
  type ResumeSearchParams,
  type SearchInfo,
  type SearchRef,
  type SearchUpdate,
  type StartSearchParams,
} from '../server/protocol';

export function createClient(context: vscode.ExtensionContext, output: vscode.OutputChannel): LanguageClient {
  const module = context.asAbsolutePath('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const clientOptions: LanguageClientOptions = {
    // The files a search can be about: code lenses, hovers and diagnostics are asked for these.
    documentSelector: [
      { scheme: 'file', language: 'python' },
      { scheme: 'file', pattern: '**/*.{cu,cuh,cpp,c,h}' },
    ],
    outputChannel: output,
  };
  return new LanguageClient('ratchet', 'Ratchet Engine', serverOptions, clientOptions);
}

/** The ratchet/* requests, typed. */
export class RatchetApi {
  constructor(private readonly client: LanguageClient) {}

  startSearch(p: StartSearchParams): Promise<SearchInfo> {
    return this.client.sendRequest(Requests.startSearch, p);
  }
  stopSearch(p: SearchRef): Promise<SearchInfo> {
    return this.client.sendRequest(Requests.stopSearch, p);
  }
  resumeSearch(p: ResumeSearchParams): Promise<SearchInfo> {
    return this.client.sendRequest(Requests.resumeSearch, p);
  }
  searches(): Promise<SearchInfo[]> {
    return this.client.sendRequest(Requests.searches, {});
  }
  experiments(p: SearchRef): Promise<ExperimentView[]> {
    return this.client.sendRequest(Requests.experiments, p);
  }
  experimentDiff(p: ExperimentDiffParams): Promise<ExperimentDiff> {
    return this.client.sendRequest(Requests.experimentDiff, p);
  }
  fileAt(p: FileAtParams): Promise<string> {
    return this.client.sendRequest(Requests.fileAt, p);
  }
  mergePlan(p: ExperimentRef): Promise<MergePlan> {
    return this.client.sendRequest(Requests.mergePlan, p);
  }
  runLog(p: ExperimentRef): Promise<string> {
    return this.client.sendRequest(Requests.runLog, p);
  }
  onUpdate(fn: (u: SearchUpdate) => void): vscode.Disposable {
    return this.client.onNotification(Notifications.searchUpdated, fn);
  }
  onLog(fn: (l: LogLine) => void): vscode.Disposable {
    return this.client.onNotification(Notifications.log, fn);
  }
}
