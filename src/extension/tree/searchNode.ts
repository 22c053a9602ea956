// A search in the Experiments tree: the searched file, its state and best result.
import * as vscode from 'vscode';
import type { SearchInfo } from '../../server/protocol';
import { searchDescription, searchLabel, searchTooltip } from '../viewModel';

export class SearchNode extends vscode.TreeItem {
  constructor(readonly search: SearchInfo) {
    super(searchLabel(search), vscode.TreeItemCollapsibleState.Expanded);
    this.id = `search:${search.id}`;
    this.description = searchDescription(search);
    this.tooltip = searchTooltip(search);
    this.iconPath = new vscode.ThemeIcon(search.running ? 'sync~spin' : 'beaker');
    this.contextValue = search.running ? 'search running' : 'search stopped';
    this.resourceUri = vscode.Uri.file(search.path);
  }
}
