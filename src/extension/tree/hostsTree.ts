// The Hosts view: the local machine plus the `ratchet.hosts` setting, redrawn when it changes.
import * as vscode from 'vscode';
import { parseHosts } from '../hosts';
import type { SearchStore } from '../store';
import { HostNode } from './hostNode';

export class HostsTree implements vscode.TreeDataProvider<HostNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly store: SearchStore) {
    this.subscriptions = [
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('ratchet.hosts')) this.changed.fire(undefined);
      }),
      store.onDidChange(() => this.changed.fire(undefined)),
    ];
  }

  getTreeItem(node: HostNode): vscode.TreeItem {
    return node;
  }

  getChildren(): HostNode[] {
    const configured = parseHosts(vscode.workspace.getConfiguration('ratchet').get<unknown[]>('hosts', []));
    // Every run of this window's searches is local until the SSH runner lands.
    const busy = this.store.searches.reduce((n, s) => n + s.active, 0);
    return [new HostNode({ name: 'local', address: 'local' }, busy), ...configured.map((h) => new HostNode(h))];
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
