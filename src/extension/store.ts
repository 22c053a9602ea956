// The extension's cache of what the engine reports: searches and their experiments, re-asked
// when the server says something changed. Views render from here; the engine owns the truth.
import * as vscode from 'vscode';
import type { ExperimentView, SearchInfo } from '../server/protocol';
import type { RatchetApi } from './client';

export class SearchStore implements vscode.Disposable {
  private searchesCache: SearchInfo[] = [];
  private readonly experimentsCache = new Map<string, ExperimentView[]>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private pending: Promise<void> | undefined;
  private again = false;

  constructor(private readonly api: RatchetApi) {}

  get searches(): readonly SearchInfo[] {
    return this.searchesCache;
  }

  experiments(searchId: string): readonly ExperimentView[] {
    return this.experimentsCache.get(searchId) ?? [];
  }

  search(searchId: string): SearchInfo | undefined {
    return this.searchesCache.find((s) => s.id === searchId);
  }

  /** The search a command means when none is named: a running one, else the latest. */
  current(): SearchInfo | undefined {
    return [...this.searchesCache].reverse().find((s) => s.running) ?? this.searchesCache[this.searchesCache.length - 1];
  }

  /** Re-asks everything; overlapping calls coalesce into one more round. */
  refresh(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = this.load().finally(() => {
      this.pending = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.pending;
  }

  private async load(): Promise<void> {
    const searches = await this.api.searches();
    for (const s of searches) this.experimentsCache.set(s.id, await this.api.experiments({ searchId: s.id }));
    this.searchesCache = searches;
    await vscode.commands.executeCommand('setContext', 'ratchet.hasSearches', searches.length > 0);
    await vscode.commands.executeCommand('setContext', 'ratchet.running', searches.some((s) => s.running));
    await vscode.commands.executeCommand('setContext', 'ratchet.canResume', searches.some((s) => !s.running));
    await vscode.commands.executeCommand('setContext', 'ratchet.hasHeld', searches.some((s) => s.held !== undefined));
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
