// An experiment in the Experiments tree: status icon, metric ± spread, delta to its parent and a
// hack badge; clicking it opens the review diff.
import * as vscode from 'vscode';
import type { ExperimentView, SearchInfo } from '../../server/protocol';
import { experimentContext, experimentDescription, experimentLabel, experimentTooltip, statusIcon } from '../viewModel';

export class ExperimentNode extends vscode.TreeItem {
  constructor(
    readonly search: SearchInfo,
    readonly experiment: ExperimentView,
  ) {
    super(experimentLabel(experiment), vscode.TreeItemCollapsibleState.None);
    this.id = `experiment:${search.id}:${experiment.id}`;
    this.description = experimentDescription(experiment);
    this.tooltip = experimentTooltip(experiment, search.metric.name);
    const icon = statusIcon(experiment);
    this.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    this.contextValue = experimentContext(experiment);
    if (experiment.hasCommit && experiment.status !== 'baseline') {
      this.command = { title: 'Review Diff', command: 'ratchet.reviewExperiment', arguments: [this] };
    }
  }
}
