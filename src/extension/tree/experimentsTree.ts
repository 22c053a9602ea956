// The Experiments view: searches at the top, their experiments below, newest search first; a
// search with threads of research shows its baseline, then one node per thread holding its experiments.
import * as vscode from 'vscode';
import type { SearchStore } from '../store';
import { searchChildren } from '../viewModel';
import { ExperimentNode } from './experimentNode';
import { SearchNode } from './searchNode';
import { ThreadNode } from './threadNode';

type Node = SearchNode | ThreadNode | ExperimentNode;

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
    if (node instanceof SearchNode) {
      return searchChildren(node.search, this.store.experiments(node.search.id)).map((c) =>
        c.kind === 'thread' ? new ThreadNode(node.search, c.thread, c.experiments) : new ExperimentNode(node.search, c.experiment),
      );
    }
    if (node instanceof ThreadNode) return node.experiments.map((e) => new ExperimentNode(node.search, e));
    return [];
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
