// A host in the Hosts view: this machine, or one configured in `ratchet.hosts`.
import * as vscode from 'vscode';
import type { HostEntry } from '../hosts';

export class HostNode extends vscode.TreeItem {
  constructor(
    readonly host: HostEntry,
    /** Runs going on there now, when known. */
    busy?: number,
  ) {
    super(host.name, vscode.TreeItemCollapsibleState.None);
    this.id = `host:${host.name}`;
    const local = host.address === 'local';
    const load = busy === undefined ? '' : busy > 0 ? ` · ${busy} running` : ' · free';
    this.description = local ? `this machine${host.gpus ? ` · GPUs ${host.gpus}` : ''}${load}` : `${host.address}${host.gpus ? ` · GPUs ${host.gpus}` : ''} · not checked yet`;
    this.tooltip = local ? 'Runs experiments as local processes.' : 'Configured in the ratchet.hosts setting; remote runs come with the SSH runner.';
    this.iconPath = new vscode.ThemeIcon(local ? 'vm' : 'remote');
    this.contextValue = local ? 'host local' : 'host remote';
  }
}
