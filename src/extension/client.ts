// Starts the engine's language server (dist/server.js) over IPC, as the lsp-sample does, and
// gives the rest of the extension typed ratchet/* calls.
import * as vscode from 'vscode';
import { LanguageClient, ResponseError, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  ClientRequests,
  Notifications,
  Requests,
  type AcceptParams,
  type AcceptResult,
  type ApiKeyParams,
  type ApiKeyResult,
  type ExperimentDiff,
  type ExperimentDiffParams,
  type ExperimentRef,
  type ExperimentView,
  type FileAtParams,
  type LmChatErrorData,
  type LmChatParams,
  type LmChatResult,
  type LogLine,
  type MergePlan,
  type ResearchFiles,
  type ResumeSearchParams,
  type SearchInfo,
  type SearchRef,
  type SearchUpdate,
  type StartSearchParams,
} from '../server/protocol';
import { lmChat, LmChatError, type LmAccess } from './languageModels';
import type { ApiKeys } from './secrets';

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
    // Redacting already: with `ratchet.trace.server` on, the trace prints every request's params.
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
  researchFiles(p: SearchRef): Promise<ResearchFiles> {
    return this.client.sendRequest(Requests.researchFiles, p);
  }
  acceptExperiment(p: AcceptParams): Promise<AcceptResult> {
    return this.client.sendRequest(Requests.acceptExperiment, p);
  }
  onUpdate(fn: (u: SearchUpdate) => void): vscode.Disposable {
    return this.client.onNotification(Notifications.searchUpdated, fn);
  }
  onLog(fn: (l: LogLine) => void): vscode.Disposable {
    return this.client.onNotification(Notifications.log, fn);
  }
}

/** The editor's language models as languageModels.ts uses them. */
const editorLm: LmAccess<vscode.LanguageModelChatMessage> = {
  selectChatModels: (selector) => vscode.lm.selectChatModels(selector),
  user: (text) => vscode.LanguageModelChatMessage.User(text),
  assistant: (text) => vscode.LanguageModelChatMessage.Assistant(text),
};

/** Answers what the server asks of the editor: a provider's key (to resume a search), a turn with one of its models. */
export function serveEditorRequests(client: LanguageClient, keys: ApiKeys): vscode.Disposable[] {
  return [
    client.onRequest(ClientRequests.apiKey, async (p: ApiKeyParams): Promise<ApiKeyResult> => ({ apiKey: await keys.get(p.provider) })),
    client.onRequest(ClientRequests.lmChat, async (p: LmChatParams, token): Promise<LmChatResult | ResponseError<LmChatErrorData>> => {
      try {
        return await lmChat(editorLm, p, token);
      } catch (e) {
        if (e instanceof LmChatError) return new ResponseError<LmChatErrorData>(1, e.message, { hint: e.hint, code: e.code });
        throw e;
      }
    }),
  ];
}
