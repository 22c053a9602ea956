// The engine's language server: standard LSP for what is inline (diagnostics for suspected hacks,
// the code lens on the searched file, hovers on changed lines) and ratchet/* for the rest.
// Searches run here, in their own process, so a long one never blocks the editor.
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CodeLensRefreshRequest,
  createConnection,
  DiagnosticSeverity,
  ProposedFeatures,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
  type CodeLens,
  type Diagnostic,
  type InitializeParams,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { isRatchetError } from '../engine/errors';
import { cumulativePatch } from '../engine/inspect';
import { listSearches } from '../engine/journal/store';
import { registerBuiltInProposers } from '../engine/proposers/builtin';
import { createEditorModel } from './editorModel';
import { ClientRequests, EXPERIMENT_SCHEME, experimentDocPath, Notifications, Requests, type ApiKeyParams, type ApiKeyResult, type LogLine, type SearchUpdate } from './protocol';
import { RatchetService } from './service';
import { codeLensTitle, experimentForLine, findingsInBaseline, findingsInExperiment, heldInBaseline, heldInExperiment, hoverMarkdown, searchInfo, type PlacedFinding } from './views';
import { unfinishedOf } from './service';

registerBuiltInProposers();
const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
let folders: string[] = [];

const service = new RatchetService(() => folders, {
  updated(searchId, kind, message) {
    connection.sendNotification(Notifications.searchUpdated, { searchId, kind, message } satisfies SearchUpdate);
    if (kind === 'experiment-finished' || kind === 'started' || kind === 'stopped' || kind === 'metric-chosen' || kind === 'accepted') scheduleRefresh();
  },
  log(searchId, text) {
    connection.sendNotification(Notifications.log, { searchId, text } satisfies LogLine);
  },
}, {
  async apiKey(provider) {
    const r = await connection.sendRequest<ApiKeyResult | null>(ClientRequests.apiKey, { provider } satisfies ApiKeyParams);
    return r?.apiKey ?? undefined;
  },
  chatModel: (config) => createEditorModel(connection, config),
});

connection.onInitialize((params: InitializeParams) => {
  folders = (params.workspaceFolders ?? []).map((f) => fileURLToPath(f.uri));
  if (folders.length === 0 && params.rootUri) folders = [fileURLToPath(params.rootUri)];
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      codeLensProvider: { resolveProvider: false },
      hoverProvider: true,
      workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
    },
  };
});

connection.onInitialized(() => {
  connection.workspace.onDidChangeWorkspaceFolders(async () => {
    folders = ((await connection.workspace.getWorkspaceFolders()) ?? []).map((f) => fileURLToPath(f.uri));
    scheduleRefresh();
  });
  scheduleRefresh();
});

/**
 * Wraps a handler so a user-facing error reaches the client with its fix, not as a crash. Only
 * the error goes back, never the params: ratchet/startSearch's carry the model's API key.
 */
function handle<P, R>(fn: (p: P) => Promise<R>): (p: P) => Promise<R | ResponseError<void>> {
  return async (p) => {
    try {
      return await fn(p);
    } catch (e) {
      if (isRatchetError(e)) return new ResponseError<void>(1, e.describe());
      return new ResponseError<void>(2, e instanceof Error ? e.message : String(e));
    }
  };
}

connection.onRequest(Requests.startSearch, handle(service.startSearch.bind(service)));
connection.onRequest(Requests.stopSearch, handle(service.stopSearch.bind(service)));
connection.onRequest(Requests.resumeSearch, handle(service.resumeSearch.bind(service)));
connection.onRequest(Requests.searches, handle(() => service.searches()));
connection.onRequest(Requests.experiments, handle(service.experiments.bind(service)));
connection.onRequest(Requests.experimentDiff, handle(service.experimentDiff.bind(service)));
connection.onRequest(Requests.fileAt, handle(service.fileAt.bind(service)));
connection.onRequest(Requests.mergePlan, handle(service.mergePlan.bind(service)));
connection.onRequest(Requests.runLog, handle(service.runLog.bind(service)));
connection.onRequest(Requests.researchFiles, handle(service.researchFiles.bind(service)));
connection.onRequest(Requests.acceptExperiment, handle(service.acceptExperiment.bind(service)));

connection.onCodeLens(async ({ textDocument }): Promise<CodeLens[]> => {
  if (!textDocument.uri.startsWith('file:')) return [];
  const found = await service.searchOnFile(fileURLToPath(textDocument.uri));
  if (!found) return [];
  const info = searchInfo(found.repoRoot, found.view, unfinishedOf(found.repoRoot, found.view.settings.id), service.isLive(found.view.settings.id));
  const range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const lenses: CodeLens[] = [{ range, command: { title: `Ratchet: ${codeLensTitle(info)}`, command: 'ratchet.openDashboard' } }];
  if (info.best && info.best.id !== 'e0') lenses.push({ range, command: { title: 'Review', command: 'ratchet.reviewBest', arguments: [info.id] } });
  for (const h of info.held ?? []) lenses.push({ range, command: { title: `Review ${h.id} (held for review)`, command: 'ratchet.reviewExperiment', arguments: [{ searchId: info.id, experimentId: h.id }] } });
  return lenses;
});

connection.onHover(async ({ textDocument, position }) => {
  const doc = documents.get(textDocument.uri);
  if (!doc || !textDocument.uri.startsWith('file:')) return null;
  const found = await service.searchOnFile(fileURLToPath(textDocument.uri));
  if (!found) return null;
  const text = doc.getText({ start: { line: position.line, character: 0 }, end: { line: position.line + 1, character: 0 } }).replace(/\r?\n$/, '');
  const kept = found.view.experiments.filter((e) => e.verdict.kind === 'kept');
  const e = experimentForLine(kept, found.view.settings.file, text);
  if (!e) return null;
  const parent = found.view.experiments.find((x) => x.id === e.parent);
  return { contents: { kind: 'markdown', value: hoverMarkdown(e, parent, found.view.metric.name, found.view.settings.task) } };
});

// ---- diagnostics: every suspected hack and every result held for review of the latest search on each file ----

let published = new Set<string>();
let refreshTimer: NodeJS.Timeout | undefined;

function scheduleRefresh(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    refresh().catch((e) => connection.console.error(`ratchet: refresh failed: ${String(e)}`));
  }, 200);
}

async function refresh(): Promise<void> {
  const next = new Map<string, Diagnostic[]>();
  const add = (uri: string, found: PlacedFinding[]) => {
    if (found.length === 0) return;
    next.set(uri, [...(next.get(uri) ?? []), ...found.map(toDiagnostic)]);
  };
  const seenFiles = new Set<string>();
  const searches = await service.searches();
  for (const info of [...searches].reverse()) {
    if (seenFiles.has(info.path)) continue; // only the latest search on a file speaks for it
    seenFiles.add(info.path);
    const { repoRoot, view } = await service.locate(info.id);
    if (!listSearches(repoRoot).some((s) => s.id === info.id)) continue;
    for (const e of view.experiments) {
      if ((e.audit.length === 0 && e.verdict.kind !== 'suspect') || !e.commit) continue;
      const patch = await cumulativePatch(repoRoot, view, e);
      add(pathToFileURL(info.path).href, [...findingsInBaseline(e, view.settings.file, patch), ...heldInBaseline(e, view.settings.file, patch)]);
      add(`${EXPERIMENT_SCHEME}:${encodeURI(experimentDocPath(info.id, e.id, view.settings.file))}`, [...findingsInExperiment(e, view.settings.file), ...heldInExperiment(e, view.settings.file)]);
    }
  }
  for (const uri of published) if (!next.has(uri)) connection.sendDiagnostics({ uri, diagnostics: [] });
  for (const [uri, diagnostics] of next) connection.sendDiagnostics({ uri, diagnostics });
  published = new Set(next.keys());
  connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
}

function toDiagnostic(f: PlacedFinding): Diagnostic {
  return {
    range: { start: { line: f.line, character: 0 }, end: { line: f.line, character: 10_000 } },
    severity: f.severity === 'hack' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    source: 'ratchet',
    code: f.check,
    message: f.message,
  };
}

connection.onShutdown(() => service.stopAll());

documents.listen(connection);
connection.listen();
