// The Experiments view: searches at the top, their experiments below, newest search first.
import * as vscode from 'vscode';
import type { SearchStore } from '../store';
import { ExperimentNode } from './experimentNode';
import { SearchNode } from './searchNode';

type Node = SearchNode | ExperimentNode;

export class ExperimentsTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly store: SearchStore) {
    this.subscription = store.onDidChange(() => this.changed.fire(undefined));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    return node;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return [...this.store.searches].reverse().map((s) => new SearchNode(s));
    if (node instanceof SearchNode) return this.store.experiments(node.search.id).map((e) => new ExperimentNode(node.search, e));
    return [];
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
