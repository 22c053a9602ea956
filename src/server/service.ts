// The handlers behind the ratchet/* requests: starts and stops searches in this process and
// answers read-only questions from the journal. Knows nothing of LSP, so tests drive it directly.
import { existsSync, readFileSync } from 'node:fs';
import { LogTail } from './logTail';
import * as path from 'node:path';
import { RatchetError } from '../engine/errors';
import { acceptExperiment, cumulativePatch, findExperiment, resolveSearch, viewSearch, type SearchView } from '../engine/inspect';
import { diffCommits, findRepoRoot, readFileAt } from '../engine/git/repo';
import { readJournal } from '../engine/journal/journal';
import { journalPath, listSearches, searchDir, type SearchSettings } from '../engine/journal/store';
import type { ModelConfig } from '../engine/llm/config';
import { defaultGuidanceFile } from '../engine/proposers/llm/guidance';
import type { ProposerOptions } from '../engine/proposers/registry';
import type { SearchEvent } from '../engine/search/search';
import { openSearch, type StartedSearch, type StartOptions } from '../engine/session';
import { noPrompts, SshRunner } from '../engine/runners/ssh';
import { scrubNames, Secrets } from '../engine/secrets/secrets';
import type { ExperimentRecord } from '../engine/types';
import type {
  AcceptParams,
  AcceptResult,
  ExperimentDiff,
  ExperimentDiffParams,
  ExperimentRef,
  ExperimentView,
  FileAtParams,
  MergePlan,
  ResearchFiles,
  ResumeSearchParams,
  SearchInfo,
  SearchRef,
  StartSearchParams,
} from './protocol';
import { budgetOf, llmProposerOptions, llmRuntime, withEditorHint, type EditorBridge } from './modelSetup';
import { experimentViews, fmtDelta, fmtValue, searchInfo, type Unfinished } from './views';

export interface ServiceEvents {
  /** A search changed: its views should be asked again. */
  updated(searchId: string, kind: string, message?: string): void;
  /** A line for the run log. */
  log(searchId: string, text: string): void;
}

interface Live {
  started: StartedSearch;
  abort: AbortController;
  done: Promise<void>;
  /** Run logs being followed, by `<experiment>-s<seed>`. */
  tails: Map<string, LogTail>;
}

export class RatchetService {
  private readonly live = new Map<string, Live>();

  constructor(
    /** Folders open in the editor; their repositories hold the searches. */
    private readonly folders: () => readonly string[],
    private readonly events: ServiceEvents,
    /** Keys and the editor's language models; absent where there is no editor (tests, the CLI). */
    private readonly editor?: EditorBridge,
  ) {}

  async startSearch(p: StartSearchParams): Promise<SearchInfo> {
    // Settings are checked before any host is connected to.
    const llm = p.proposer === 'llm' ? llmProposerOptions(p.file, p.model, p.budget) : undefined;
    // With hosts configured the runs go there. The editor has no dialog for an unknown host key
    // yet, so such a host is refused (noPrompts); `ratchet search --host` on a terminal records it.
    const runner = p.hosts && p.hosts.length > 0 ? new SshRunner({ hosts: p.hosts, prompts: noPrompts, sshConfigFile: p.sshConfigFile || undefined }) : undefined;
    try {
      await runner?.start();
      return await this.launch(
        {
          file: p.file,
          cwd: path.dirname(p.file),
          proposer: p.proposer,
          proposerOptions: llm ?? (p.patches ? { patches: p.patches } : undefined),
          threads: p.threads,
          scrubEnv: p.scrubEnv,
          parallel: runner ? runner.slots().length : p.parallel,
          maxExperiments: p.maxExperiments,
          timeLimitSeconds: p.timeLimitSeconds,
          runner,
        },
        { model: llm?.model, apiKey: p.apiKey, cleanup: () => runner?.close() },
      );
    } catch (e) {
      runner?.close();
      if (e instanceof RatchetError && e.code === 'HOST_KEY') {
        // The editor cannot ask about a key yet; say where it can be answered.
        throw new RatchetError(e.message, `${e.hint ?? ''}; the editor cannot ask yet: connect once with \`ssh HOST\` (or \`ratchet search FILE --host HOST\` in a terminal) to record the key`, e.code);
      }
      throw e;
    }
  }

  async resumeSearch(p: ResumeSearchParams): Promise<SearchInfo> {
    let cwd = p.file ? path.dirname(p.file) : undefined;
    if (!cwd && p.searchId) cwd = (await this.locate(p.searchId)).repoRoot;
    cwd ??= this.folders()[0];
    if (!cwd) throw new RatchetError('no folder is open', 'open the repository that holds the search');
    // search.json holds the model but no key: the key is fetched again, and a budget the user
    // changed in the settings (say, raised after it ran out) replaces the stored one, as does the
    // review setting.
    const settings = await this.searchToResume(cwd, p);
    const model = settings.proposer === 'llm' ? (settings.proposerOptions as ProposerOptions | undefined)?.model : undefined;
    const budget = model && (p.budget?.usd || p.budget?.tokens) ? { budget: budgetOf(p.budget) } : undefined;
    const review = model && p.review !== undefined ? { review: p.review } : undefined;
    const proposerOptions = budget || review ? { ...budget, ...review } : undefined;
    return this.launch({ file: p.file, cwd, resume: true, searchId: settings.id, proposerOptions, scrubEnv: p.scrubEnv }, { model });
  }

  private async searchToResume(cwd: string, p: ResumeSearchParams): Promise<SearchSettings> {
    const repoRoot = await findRepoRoot(cwd);
    const file = p.file ? path.relative(repoRoot, p.file).split(path.sep).join('/') : undefined;
    return resolveSearch(repoRoot, p.searchId, file).settings;
  }

  private async launch(opts: Omit<StartOptions, 'signal' | 'proposerRuntime'>, extra: { model?: ModelConfig; apiKey?: string; cleanup?: () => void } = {}): Promise<SearchInfo> {
    const abort = new AbortController();
    let id = '';
    // The runtime exists before the search does; its retries are logged once the id is known.
    const proposerRuntime = extra.model ? await llmRuntime(extra.model, extra.apiKey, this.editor, (line) => this.events.log(id, line)) : undefined;
    let started: StartedSearch;
    try {
      started = await openSearch({ ...opts, proposerRuntime, signal: abort.signal });
    } catch (e) {
      // The search did not say yet which values it keeps secret: the key at hand and the names given.
      const secrets = Secrets.of(scrubNames({ listed: opts.scrubEnv, model: extra.model }), process.env, [proposerRuntime?.apiKey]);
      throw secrets.redactError(withEditorHint(e));
    }
    id = started.settings.id;
    started.search.on('event', (e: SearchEvent) => this.onEvent(id, e));
    const done = started.search
      .run()
      .then(
        (summary) => this.events.log(id, `search ${id} stopped: ${summary.stoppedBecause}`),
        (e: unknown) => this.events.log(id, started.secrets.redact(`search ${id} failed: ${e instanceof RatchetError ? e.describe() : String(e)}`)),
      )
      .finally(() => {
        for (const t of this.live.get(id)?.tails.values() ?? []) t.stop();
        started.release();
        extra.cleanup?.();
        this.live.delete(id);
        this.events.updated(id, 'stopped');
      });
    this.live.set(id, { started, abort, done, tails: new Map() });
    const model = extra.model ? `, model ${extra.model.provider}:${extra.model.model}${started.reviewed ? ', reviewed by the model' : ''}` : '';
    this.events.log(id, `search ${id} on ${started.settings.file}${started.resumed ? ' resumed' : ' started'} (proposer ${started.settings.proposer}${model})`);
    this.events.updated(id, 'started');
    return this.info(started.repoRoot, id);
  }

  private onEvent(id: string, e: SearchEvent): void {
    switch (e.type) {
      case 'phase':
        this.events.log(id, `phase: ${e.phase}`);
        break;
      case 'experiment-started':
        this.events.log(id, `${e.id} started${e.parent ? ` from ${e.parent}` : ''}: ${e.hypothesis}`);
        break;
      case 'run-started': {
        this.events.log(id, `${e.id} seed ${e.seed} running on ${e.slot}`);
        const live = this.live.get(id);
        if (live) {
          const key = `${e.id}-s${e.seed}`;
          const file = path.join(searchDir(live.started.repoRoot, id), 'logs', `${key}.log`);
          live.tails.set(key, new LogTail(file, (line) => this.events.log(id, `[${key}] ${line}`)));
        }
        break;
      }
      case 'run-finished': {
        const live = this.live.get(id);
        const key = `${e.id}-s${e.run.seed}`;
        live?.tails.get(key)?.stop();
        live?.tails.delete(key);
        // The metric is read after this event, so the line says how the process ended, not the value.
        const ended = e.run.exitCode !== null ? `exit code ${e.run.exitCode}` : e.run.outcome;
        this.events.log(id, `${e.id} seed ${e.run.seed} ended: ${ended} after ${(e.run.durationMs / 1000).toFixed(1)} s — log ${e.run.log}`);
        break;
      }
      case 'experiment-finished': {
        const x = e.experiment;
        const hacks = x.audit.filter((a) => a.severity === 'hack').map((a) => `${a.file}:${a.line} ${a.message}`);
        this.events.log(id, `${x.id} ${x.verdict.kind}${x.mean !== undefined ? ` ${fmtValue(x.mean)}` : ''}${e.isBest ? ' (new best)' : ''}${hacks.length ? ` — suspected hack: ${hacks.join('; ')}` : ''}`);
        break;
      }
      case 'metric-chosen':
        this.events.log(id, `metric: ${e.name} (${e.direction} is better)`);
        break;
    }
    this.events.updated(id, e.type);
  }

  async stopSearch(p: SearchRef): Promise<SearchInfo> {
    const live = this.live.get(p.searchId);
    if (!live) throw new RatchetError(`search ${p.searchId} is not running in this window`, 'a search started from a terminal stops with `ratchet stop` or Ctrl-C there');
    live.abort.abort();
    await live.done;
    return this.info(live.started.repoRoot, p.searchId);
  }

  /** Stops every search this process runs; what they finished is already in the journal. */
  async stopAll(): Promise<void> {
    const all = [...this.live.values()];
    for (const l of all) l.abort.abort();
    await Promise.all(all.map((l) => l.done));
  }

  async searches(): Promise<SearchInfo[]> {
    const out: SearchInfo[] = [];
    for (const root of await this.repoRoots()) {
      for (const s of listSearches(root)) out.push(this.info(root, s.id));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async experiments(p: SearchRef): Promise<ExperimentView[]> {
    const { repoRoot, view } = await this.locate(p.searchId);
    return experimentViews(view, unfinishedOf(repoRoot, p.searchId));
  }

  async experimentDiff(p: ExperimentDiffParams): Promise<ExperimentDiff> {
    const { view } = await this.locate(p.searchId);
    const e = findExperiment(view, p.experimentId);
    if (!e.commit) throw new RatchetError(`experiment ${e.id} has no commit: ${'reason' in e.verdict ? e.verdict.reason : e.verdict.kind}`, 'pick an experiment whose patch applied');
    const leftId = p.against === 'parent' && e.parent ? e.parent : 'e0';
    const left = view.experiments.find((x) => x.id === leftId);
    const result = e.mean !== undefined ? `${view.metric.name} ${fmtValue(e.mean)}${left?.mean !== undefined ? ` (${fmtDelta(e.mean - left.mean)})` : ''}` : e.verdict.kind;
    return {
      file: view.settings.file,
      leftId,
      title: `${view.settings.file.split('/').pop()} ${leftId} ↔ ${e.id}: ${e.hypothesis} · ${result}${e.audit.some((a) => a.severity === 'hack') ? ' · ⚠ flagged' : ''}`,
      detail: describeExperiment(e, view.metric.name),
    };
  }

  async fileAt(p: FileAtParams): Promise<string> {
    const { repoRoot, view } = await this.locate(p.searchId);
    const commit = this.commitOf(view, p.experimentId);
    return readFileAt(repoRoot, commit, p.file);
  }

  async mergePlan(p: ExperimentRef): Promise<MergePlan> {
    const { repoRoot, view } = await this.locate(p.searchId);
    const e = findExperiment(view, p.experimentId);
    if (e.verdict.kind !== 'kept') {
      throw new RatchetError(`experiment ${e.id} was not kept (${e.verdict.kind}); only verified improvements are merged`, view.best && view.best.id !== 'e0' ? `the best is ${view.best.id}` : 'wait for a kept experiment');
    }
    const file = view.settings.file;
    await cumulativePatch(repoRoot, view, e); // throws the user-facing error when there is no commit
    return {
      path: path.join(repoRoot, ...file.split('/')),
      baseline: await readFileAt(repoRoot, view.settings.baselineCommit, file),
      result: await readFileAt(repoRoot, e.commit!, file),
      patch: await diffCommits(repoRoot, view.settings.baselineCommit, e.commit!, [file]),
    };
  }

  async researchFiles(p: SearchRef): Promise<ResearchFiles> {
    const { repoRoot, view } = await this.locate(p.searchId);
    const stored = (view.settings.proposerOptions as ProposerOptions | undefined)?.guidance;
    return {
      notes: path.join(searchDir(repoRoot, p.searchId), 'notes.md'),
      guidance: stored ?? defaultGuidanceFile(path.join(repoRoot, view.settings.file)),
    };
  }

  async runLog(p: ExperimentRef): Promise<string> {
    const { repoRoot, view } = await this.locate(p.searchId);
    const e = findExperiment(view, p.experimentId);
    const dir = searchDir(repoRoot, p.searchId);
    const logs = e.runs.map((r) => path.join(dir, r.log)).filter((f) => existsSync(f));
    if (logs.length === 0) {
      // A running experiment's log exists before its record does.
      const prefix = path.join(dir, 'logs', `${e.id}-`);
      return `no finished run logs for ${e.id} yet (they appear under ${prefix}*)`;
    }
    return logs.map((f) => `==> ${path.relative(repoRoot, f)} <==\n${readFileSync(f, 'utf8')}`).join('\n');
  }

  /** Accepts a result held for review: the engine appends the acceptance to the journal, where a
   * running search finds it too; the views are told to refresh. */
  async acceptExperiment(p: AcceptParams): Promise<AcceptResult> {
    const { repoRoot, view } = await this.locate(p.searchId);
    const accepted = acceptExperiment(repoRoot, view, p.experimentId, p.reason ?? '', 'editor');
    this.events.log(p.searchId, `${accepted.experiment.id} accepted after review${accepted.isBest ? ' (new best)' : ''}${p.reason ? `: ${p.reason}` : ''}`);
    this.events.updated(p.searchId, 'accepted');
    const experiment = experimentViews(accepted.view, []).find((e) => e.id === accepted.experiment.id)!;
    return { experiment, isBest: accepted.isBest };
  }

  /** The search view and its repository; searches in any open folder's repository are found. */
  async locate(searchId: string): Promise<{ repoRoot: string; view: SearchView }> {
    for (const root of await this.repoRoots()) {
      if (listSearches(root).some((s) => s.id === searchId)) return { repoRoot: root, view: viewSearch(root, searchId) };
    }
    throw new RatchetError(`no search named ${searchId} in the open folders`, 'open the repository that holds it');
  }

  /** The latest search on a file, if any (for code lenses, hovers, diagnostics). */
  async searchOnFile(file: string): Promise<{ repoRoot: string; view: SearchView } | undefined> {
    let repoRoot: string;
    try {
      repoRoot = await findRepoRoot(path.dirname(file));
    } catch {
      return undefined;
    }
    const rel = path.relative(repoRoot, file).split(path.sep).join('/');
    try {
      return { repoRoot, view: resolveSearch(repoRoot, undefined, rel) };
    } catch {
      return undefined;
    }
  }

  info(repoRoot: string, id: string): SearchInfo {
    return searchInfo(repoRoot, viewSearch(repoRoot, id), unfinishedOf(repoRoot, id), this.live.has(id));
  }

  isLive(searchId: string): boolean {
    return this.live.has(searchId);
  }

  private commitOf(view: SearchView, experimentId: string): string {
    if (experimentId === 'baseline') return view.settings.baselineCommit;
    const e = findExperiment(view, experimentId);
    if (!e.commit) throw new RatchetError(`experiment ${e.id} has no commit`, 'its patch did not apply');
    return e.commit;
  }

  private async repoRoots(): Promise<string[]> {
    const roots = new Set<string>();
    for (const f of this.folders()) {
      try {
        roots.add(await findRepoRoot(f));
      } catch {
        // A folder that is not a repository holds no searches.
      }
    }
    return [...roots];
  }
}

export function unfinishedOf(repoRoot: string, searchId: string): Unfinished[] {
  const { records } = readJournal(journalPath(repoRoot, searchId));
  const done = new Set<string>();
  const started: Unfinished[] = [];
  for (const r of records) {
    if (r.type === 'experiment-started') started.push({ id: r.id, parent: r.parent, hypothesis: r.hypothesis, thread: r.thread });
    if (r.type === 'experiment') done.add(r.experiment.id);
  }
  return started.filter((u) => !done.has(u.id));
}

export function describeExperiment(e: ExperimentRecord, metric: string): string {
  const lines = [`${e.id}: ${e.hypothesis}`, `verdict: ${e.verdict.kind}${'reason' in e.verdict ? ` — ${e.verdict.reason}` : ''}`];
  if (e.mean !== undefined) lines.push(`${metric}: ${fmtValue(e.mean)} ± ${fmtValue(e.spread ?? 0)} over ${e.runs.length} run(s)`);
  for (const a of e.audit) lines.push(`${a.severity === 'hack' ? 'suspected hack' : 'warning'} (${a.check}) ${a.file ?? ''}${a.line ? `:${a.line}` : ''}: ${a.message}${a.evidence ? ` — ${a.evidence}` : ''}`);
  return lines.join('\n');
}
