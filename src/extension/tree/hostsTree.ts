// The Hosts view: the local machine plus the `ratchet.hosts` setting, redrawn when it changes.
import * as vscode from 'vscode';
import { parseHosts } from '../hosts';
import { HostNode } from './hostNode';

export class HostsTree implements vscode.TreeDataProvider<HostNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription = vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('ratchet.hosts')) this.changed.fire(undefined);
  });

  getTreeItem(node: HostNode): vscode.TreeItem {
    return node;
  }

  getChildren(): HostNode[] {
    const configured = parseHosts(vscode.workspace.getConfiguration('ratchet').get<unknown[]>('hosts', []));
    return [new HostNode({ name: 'local', address: 'local' }), ...configured.map((h) => new HostNode(h))];
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
