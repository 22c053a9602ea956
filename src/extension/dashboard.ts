// The dashboard webview: one panel, fed the current search's experiments whenever the store
// changes; a click on a table row or a point asks for the review diff.
import * as vscode from 'vscode';
import type { ExperimentView, SearchInfo } from '../server/protocol';
import { dashboardHtml, newNonce } from './dashboardHtml';
import type { SearchStore } from './store';

export interface DashboardData {
  type: 'data';
  search?: SearchInfo;
  experiments: readonly ExperimentView[];
}

type FromWebview = { type: 'ready' } | { type: 'review'; searchId: string; experimentId: string };

export class Dashboard implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: SearchStore,
  ) {
    this.subscriptions.push(store.onDidChange(() => this.post()));
  }

  show(): void {
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    // No retainContextWhenHidden: the page keeps its own state through getState/setState.
    const panel = vscode.window.createWebviewPanel('ratchet.dashboard', 'Ratchet Dashboard', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [media],
    });
    panel.iconPath = vscode.Uri.joinPath(media, 'ratchet.svg');
    const asset = (...p: string[]) => panel.webview.asWebviewUri(vscode.Uri.joinPath(media, ...p)).toString();
    panel.webview.html = dashboardHtml(
      { cspSource: panel.webview.cspSource, script: asset('dist', 'dashboard.js'), styles: [asset('dist', 'uplot.css'), asset('dashboard.css')] },
      newNonce(),
    );
    panel.webview.onDidReceiveMessage((m: FromWebview) => {
      if (m.type === 'ready') this.post();
      else if (m.type === 'review') void vscode.commands.executeCommand('ratchet.reviewExperiment', { searchId: m.searchId, experimentId: m.experimentId });
    }, undefined, this.subscriptions);
    panel.onDidDispose(() => (this.panel = undefined), undefined, this.subscriptions);
    this.panel = panel;
  }

  private post(): void {
    if (!this.panel) return;
    const search = this.store.current();
    const data: DashboardData = { type: 'data', search, experiments: search ? this.store.experiments(search.id) : [] };
    void this.panel.webview.postMessage(data);
  }

  dispose(): void {
    this.panel?.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}
