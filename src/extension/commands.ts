// Every Ratchet command. Each is a few lines over the engine's requests; errors a user can meet
// arrive from the server with their fix and are shown as they are.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExperimentView, SearchInfo } from '../server/protocol';
import type { RatchetApi } from './client';
import type { Dashboard } from './dashboard';
import { parseHosts, validHostAddress } from './hosts';
import { mergeExperiment } from './merge';
import { budgetSettings, keyedProviderOf, modelSettings, reviewSetting } from './modelSettings';
import { reviewExperiment } from './review';
import { acceptPrompt } from './viewModel';
import { defaultGuidanceFile } from '../engine/proposers/llm/guidance';
import type { ApiKeys } from './secrets';
import type { SearchStore } from './store';
import { ExperimentNode } from './tree/experimentNode';
import { SearchNode } from './tree/searchNode';

/** What a new guidance file starts with: the model reads it before every proposal. */
const GUIDANCE_TEMPLATE = `# Research guidance

Ratchet's model reads this file before every proposal: edit it while the search runs.
Say what to explore, what to avoid, and what you already know, e.g.

- Try a learning-rate warm-up before changing the architecture.
- Do not change the tokenizer.
`;

export interface CommandDeps {
  api: RatchetApi;
  store: SearchStore;
  dashboard: Dashboard;
  output: vscode.OutputChannel;
  keys: ApiKeys;
}

/** What a command may be invoked with: a tree node, a plain reference (from the dashboard or a lens), or nothing. */
type Target = ExperimentNode | SearchNode | { searchId: string; experimentId?: string } | string | vscode.Uri | undefined;

function refOf(t: Target): { searchId?: string; experimentId?: string } {
  if (t instanceof ExperimentNode) return { searchId: t.search.id, experimentId: t.experiment.id };
  if (t instanceof SearchNode) return { searchId: t.search.id };
  if (typeof t === 'string') return { searchId: t };
  if (t && !(t instanceof vscode.Uri)) return t;
  return {};
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { api, store, dashboard, output } = deps;
  const register = (id: string, fn: (t?: Target) => Promise<unknown> | unknown) =>
    vscode.commands.registerCommand(id, async (t?: Target) => {
      try {
        await fn(t);
      } catch (e) {
        void vscode.window.showErrorMessage(`Ratchet: ${e instanceof Error ? e.message : String(e)}`);
      }
    });

  const pickSearch = async (filter: (s: SearchInfo) => boolean, placeHolder: string): Promise<SearchInfo | undefined> => {
    await store.refresh();
    const candidates = [...store.searches].filter(filter).reverse();
    if (candidates.length <= 1) return candidates[0];
    const picked = await vscode.window.showQuickPick(
      candidates.map((s) => ({ label: s.file, description: s.id, detail: s.best ? `best ${s.best.mean} ${s.metric.name} · ${s.runs} runs` : undefined, s })),
      { placeHolder },
    );
    return picked?.s;
  };

  const pickExperiment = async (search: SearchInfo, filter: (e: ExperimentView) => boolean, placeHolder: string): Promise<ExperimentView | undefined> => {
    const candidates = store.experiments(search.id).filter(filter);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(`Ratchet: no ${placeHolder.includes('merge') ? 'kept ' : ''}experiments in ${search.file} yet.`);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      candidates.map((e) => ({ label: `${e.id} ${e.hypothesis}`, description: `${e.status}${e.mean !== undefined ? ` · ${e.mean}` : ''}${e.isBest ? ' · best' : ''}`, e })),
      { placeHolder },
    );
    return picked?.e;
  };

  return [
    register('ratchet.startSearch', async (t) => {
      const uri = t instanceof vscode.Uri ? t : vscode.window.activeTextEditor?.document.uri;
      if (!uri || uri.scheme !== 'file') throw new Error('open the training script or kernel to improve, then run this command again');
      const doc = await vscode.workspace.openTextDocument(uri);
      if (doc.isDirty) {
        const ok = await vscode.window.showWarningMessage(`${vscode.workspace.asRelativePath(uri)} has unsaved changes; the search starts from the saved file.`, { modal: true }, 'Save and Start');
        if (ok !== 'Save and Start') return;
        await doc.save();
      }
      const config = vscode.workspace.getConfiguration('ratchet', uri);
      const folder = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(uri.fsPath);
      const patches = config.get<string>('replay.patchesFolder');
      const minutes = config.get<number>('budget.timeMinutes');
      const proposer = config.get<string>('proposer');
      const model = proposer === 'llm' ? modelSettings(config) : undefined;
      const provider = model && keyedProviderOf(model.name);
      // Only over the local IPC connection; the server never stores or logs it.
      const apiKey = provider && (await deps.keys.get(provider));
      const info = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Ratchet: starting a search on ${vscode.workspace.asRelativePath(uri)}…` },
        () =>
          api.startSearch({
            file: uri.fsPath,
            proposer,
            patches: patches ? path.resolve(folder, patches) : undefined,
            model,
            budget: model && budgetSettings(config),
            threads: config.get<number>('threads') || undefined,
            scrubEnv: config.get<string[]>('scrubEnv', []),
            apiKey,
            parallel: config.get<number>('parallel'),
            maxExperiments: config.get<number>('budget.maxExperiments') || undefined,
            timeLimitSeconds: minutes ? minutes * 60 : undefined,
            hosts: parseHosts(config.get<unknown[]>('hosts', []))
              .map((h) => h.address)
              .filter((a) => a !== 'local'),
            sshConfigFile: config.get<string>('sshConfigFile') || undefined,
          }),
      );
      output.appendLine(`Started ${info.id}.`);
      await store.refresh();
      await vscode.commands.executeCommand('ratchet.experiments.focus');
    }),
    register('ratchet.stopSearch', async (t) => {
      const ref = refOf(t);
      const search = ref.searchId ? store.search(ref.searchId) : await pickSearch((s) => s.running, 'Which search should stop?');
      if (!search) return void vscode.window.showInformationMessage('Ratchet: no search is running.');
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Ratchet: stopping ${search.file}; running experiments are recorded as cancelled…` }, () =>
        api.stopSearch({ searchId: search.id }),
      );
      await store.refresh();
    }),
    register('ratchet.resumeSearch', async (t) => {
      const ref = refOf(t);
      const search = ref.searchId ? store.search(ref.searchId) : await pickSearch((s) => !s.running, 'Which search should continue?');
      if (!search) return void vscode.window.showInformationMessage('Ratchet: no stopped search to resume.');
      // The key is asked for by the server when the search needs one; a changed budget applies.
      const config = vscode.workspace.getConfiguration('ratchet', vscode.Uri.file(search.path));
      await api.resumeSearch({ searchId: search.id, budget: budgetSettings(config), review: reviewSetting(config), scrubEnv: config.get<string[]>('scrubEnv', []) });
      await store.refresh();
    }),
    register('ratchet.reviewBest', async (t) => {
      const ref = refOf(t);
      const search = ref.searchId ? store.search(ref.searchId) : store.current();
      if (!search?.best || search.best.id === 'e0') return void vscode.window.showInformationMessage('Ratchet: no kept improvement yet.');
      await reviewExperiment(api, search.id, search.best.id, 'baseline');
    }),
    register('ratchet.reviewExperiment', async (t) => {
      const ref = refOf(t);
      if (!ref.searchId || !ref.experimentId) return;
      await reviewExperiment(api, ref.searchId, ref.experimentId, 'parent');
    }),
    register('ratchet.mergeExperiment', async (t) => {
      let ref = refOf(t);
      if (!ref.experimentId) {
        const search = ref.searchId ? store.search(ref.searchId) : store.current();
        if (!search) return void vscode.window.showInformationMessage('Ratchet: no search yet.');
        const e = await pickExperiment(search, (x) => x.status === 'kept', 'Which kept experiment should merge into your file?');
        if (!e) return;
        ref = { searchId: search.id, experimentId: e.id };
      }
      const outcome = await mergeExperiment(api, ref.searchId!, ref.experimentId!);
      output.appendLine(`Merge of ${ref.experimentId}: ${outcome}.`);
    }),
    register('ratchet.acceptExperiment', async (t) => {
      // From a suspect row, or from the palette: then one of the results held for review.
      let ref = refOf(t);
      if (!ref.experimentId) {
        await store.refresh();
        const search = ref.searchId ? store.search(ref.searchId) : [...store.searches].reverse().find((s) => s.held);
        if (!search?.held) return void vscode.window.showInformationMessage('Ratchet: no result is held for review.');
        const e = await pickExperiment(search, (x) => x.status === 'suspect', 'Which result held for review should be accepted?');
        if (!e) return;
        ref = { searchId: search.id, experimentId: e.id };
      }
      const e = store.experiments(ref.searchId!).find((x) => x.id === ref.experimentId);
      if (!e) throw new Error(`no experiment ${ref.experimentId} in search ${ref.searchId}`);
      const prompt = acceptPrompt(e);
      const choice = await vscode.window.showWarningMessage(prompt.message, { modal: true, detail: prompt.detail }, 'Review Change', 'Accept');
      if (choice === 'Review Change') return reviewExperiment(api, ref.searchId!, e.id, 'parent');
      if (choice !== 'Accept') return;
      const result = await api.acceptExperiment({ searchId: ref.searchId!, experimentId: e.id });
      output.appendLine(`Accepted ${e.id} after review${result.isBest ? '; it is now the best' : ''}.`);
      await store.refresh();
      void vscode.window.showInformationMessage(`Ratchet: ${e.id} accepted and kept${result.isBest ? '; it is now the best' : ''}.`);
    }),
    register('ratchet.showRunLog', async (t) => {
      const ref = refOf(t);
      if (ref.searchId && ref.experimentId) {
        output.appendLine(await api.runLog({ searchId: ref.searchId, experimentId: ref.experimentId }));
      }
      output.show(true);
    }),
    register('ratchet.editGuidance', async (t) => {
      // The guidance of a search, or for the file in the editor before any search exists.
      const ref = refOf(t);
      const search = ref.searchId ? store.search(ref.searchId) : undefined;
      const active = vscode.window.activeTextEditor?.document.uri;
      let file: string | undefined;
      if (search) file = (await api.researchFiles({ searchId: search.id })).guidance;
      else if (active?.scheme === 'file') file = defaultGuidanceFile(active.fsPath);
      else if (store.current()) file = (await api.researchFiles({ searchId: store.current()!.id })).guidance;
      if (!file) return void vscode.window.showInformationMessage('Ratchet: open the file you search on first.');
      const uri = vscode.Uri.file(file);
      try {
        await vscode.workspace.fs.stat(uri);
      } catch {
        await vscode.workspace.fs.writeFile(uri, Buffer.from(GUIDANCE_TEMPLATE));
      }
      await vscode.window.showTextDocument(uri);
    }),
    register('ratchet.openNotes', async (t) => {
      const ref = refOf(t);
      const search = ref.searchId ? store.search(ref.searchId) : store.current();
      if (!search) return void vscode.window.showInformationMessage('Ratchet: no search yet.');
      const uri = vscode.Uri.file((await api.researchFiles({ searchId: search.id })).notes);
      try {
        await vscode.workspace.fs.stat(uri);
      } catch {
        return void vscode.window.showInformationMessage('Ratchet: no research notes yet — the llm proposer writes them with its answers.');
      }
      await vscode.window.showTextDocument(uri, { preview: true });
    }),
    register('ratchet.openDashboard', async () => {
      await store.refresh();
      dashboard.show();
    }),
    register('ratchet.addHost', async () => {
      const address = await vscode.window.showInputBox({
        prompt: 'SSH destination of a GPU host (user@host or host, optionally :port)',
        placeHolder: 'researcher@gpu-box',
        validateInput: (s) => (validHostAddress(s) ? undefined : 'expected user@host or host, e.g. researcher@gpu-box'),
      });
      if (!address) return;
      const config = vscode.workspace.getConfiguration('ratchet');
      const hosts = config.get<unknown[]>('hosts', []);
      const target = vscode.workspace.workspaceFolders ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
      await config.update('hosts', [...hosts, address.trim()], target);
      void vscode.window.showInformationMessage(`Ratchet: added ${address.trim()} to ratchet.hosts.`);
    }),
    register('ratchet.setApiKey', () => deps.keys.prompt()),
    register('ratchet.clearApiKey', () => deps.keys.clear()),
    register('ratchet.refresh', () => store.refresh()),
  ];
}
