// A thread of research in the Experiments tree, between a search and its experiments: its focus,
// its best result and whether the search still extends it. Stale threads start collapsed, so the
// open lines of research are what a person sees first.
import * as vscode from 'vscode';
import type { ExperimentView, SearchInfo, ThreadSummary } from '../../server/protocol';
import { threadDescription, threadIcon, threadLabel, threadTooltip } from '../viewModel';

export class ThreadNode extends vscode.TreeItem {
  constructor(
    readonly search: SearchInfo,
    readonly thread: ThreadSummary,
    readonly experiments: readonly ExperimentView[],
  ) {
    super(threadLabel(thread), thread.open ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
    this.id = `thread:${search.id}:${thread.id}`;
    this.description = threadDescription(thread);
    this.tooltip = threadTooltip(thread, search.metric.name);
    const icon = threadIcon(thread);
    this.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    this.contextValue = thread.open ? 'thread open' : 'thread stale';
  }
}
