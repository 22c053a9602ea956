// Ratchet's VS Code entry point: starts the engine's language server and wires the views and
// commands to it. State lives in the engine; everything here renders it or asks it to act.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { EXPERIMENT_SCHEME } from '../server/protocol';
import { createClient, RatchetApi, serveEditorRequests } from './client';
import { registerCommands } from './commands';
import { Dashboard } from './dashboard';
import { ExperimentDocuments } from './experimentDocuments';
import { redactingChannel } from './redact';
import { ApiKeys } from './secrets';
import { createStatusBar } from './statusBar';
import { SearchStore } from './store';
import { ExperimentsTree } from './tree/experimentsTree';
import { HostsTree } from './tree/hostsTree';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const keys = new ApiKeys(context.secrets);
  const output = redactingChannel(vscode.window.createOutputChannel('Ratchet'), () => keys.known());
  client = createClient(context, output);
  const api = new RatchetApi(client);
  const store = new SearchStore(api);
  const dashboard = new Dashboard(context.extensionUri, store);
  const experiments = new ExperimentsTree(store);
  context.subscriptions.push(
    output,
    store,
    dashboard,
    experiments,
    vscode.window.registerTreeDataProvider('ratchet.experiments', experiments),
    vscode.window.registerTreeDataProvider('ratchet.hosts', new HostsTree(store)),
    vscode.workspace.registerTextDocumentContentProvider(EXPERIMENT_SCHEME, new ExperimentDocuments(api)),
    createStatusBar(store),
    ...registerCommands({ api, store, dashboard, output, keys }),
    // Registered before start, so the server can ask from its first message on.
    ...serveEditorRequests(client, keys),
  );
  await client.start();
  context.subscriptions.push(
    api.onLog((l) => output.appendLine(`[${new Date().toLocaleTimeString()}] ${l.text}`)),
    api.onUpdate(() => void store.refresh()),
  );
  await store.refresh();
}

export function deactivate(): Thenable<void> | undefined {
  // Stopping the server cancels its running experiments; everything finished is already journaled.
  return client?.stop();
}
