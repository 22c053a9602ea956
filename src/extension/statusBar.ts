// The status bar item: running / active / best; a click opens the dashboard.
import * as vscode from 'vscode';
import type { SearchStore } from './store';
import { statusBarText } from './viewModel';

export function createStatusBar(store: SearchStore): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('ratchet.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'Ratchet';
  item.command = 'ratchet.openDashboard';
  const render = () => {
    item.text = statusBarText(store.searches);
    item.tooltip = 'Ratchet: open the dashboard';
    if (store.searches.length > 0) item.show();
  };
  render();
  const sub = store.onDidChange(render);
  return vscode.Disposable.from(item, sub);
}
