// The dashboard page: the metric over runs (kept, discarded, failed, flagged and held-for-review
// runs drawn differently, with the best-so-far line) and a sortable table (with a thread column when the
// search has threads of research); a click reviews the diff.
// Runs inside the webview: only what the extension posts, and state through getState/setState.
import uPlot from 'uplot';
import { usageText } from '../engine/llm/usage';
import type { ExperimentView, SearchInfo } from '../server/protocol';

interface VsCodeApi {
  postMessage(m: unknown): void;
  getState(): State | undefined;
  setState(s: State): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface State {
  sortKey: SortKey;
  ascending: boolean;
  last?: { search?: SearchInfo; experiments: ExperimentView[] };
}

type SortKey = 'order' | 'id' | 'thread' | 'hypothesis' | 'status' | 'mean' | 'delta' | 'runs' | 'audit';

const vscode = acquireVsCodeApi();
let state: State = vscode.getState() ?? { sortKey: 'order', ascending: true };
let chart: uPlot | undefined;

const css = (name: string, fallback: string) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
const fmt = (x: number | undefined) => (x === undefined ? '' : Number(x.toPrecision(4)).toString());
const flagged = (e: ExperimentView) => e.status === 'flagged' || e.audit.some((a) => a.severity === 'hack');
const threaded = (experiments: readonly ExperimentView[]) => experiments.some((e) => e.thread !== undefined && e.thread !== 'main');


/** The thread cell: "t2", "t2 · combines e5", "t1 · fixes e3"; empty on 'main'. */
function threadText(e: ExperimentView): string {
  if (!e.thread || e.thread === 'main') return '';
  const marker = e.other && e.intent === 'combine' ? `combines ${e.other}` : e.other && e.intent === 'debug' ? `fixes ${e.other}` : '';
  return marker ? `${e.thread} · ${marker}` : e.thread;
}

window.addEventListener('message', (ev: MessageEvent) => {
  const m = ev.data as { type: string; search?: SearchInfo; experiments: ExperimentView[] };
  if (m.type !== 'data') return;
  state.last = { search: m.search, experiments: m.experiments };
  vscode.setState(state);
  render();
});

function render(): void {
  const search = state.last?.search;
  const experiments = state.last?.experiments ?? [];
  const title = document.getElementById('title')!;
  const summary = document.getElementById('summary')!;
  if (!search) {
    title.textContent = 'Ratchet';
    summary.textContent = 'No search yet: open a training script and run "Ratchet: Start Search on This File".';
    return;
  }
  title.textContent = `${search.file} · ${search.metric.name} (${search.metric.direction} is better)`;
  const best = search.best && search.best.id !== 'e0' ? `best ${fmt(search.best.mean)} (${search.best.id})` : 'no improvement yet';
  const usage = search.usage ? ` · ${usageText(search.usage, 'model call')}` : '';
  const held = search.held ? ` · ${search.held.length} held for review (${search.held.map((h) => h.id).join(', ')})` : '';
  const self = search.provenance === 'self-reported' ? ` · ${search.metric.name} self-reported: what the script printed` : '';
  summary.textContent = `${search.running ? 'running' : `stopped${search.stoppedBecause ? `: ${search.stoppedBecause}` : ''}`} · baseline ${fmt(search.baseline)} · ${best} · ${search.runs} runs · ${search.flagged} flagged${held}${self}${usage}`;
  renderChart(search, experiments);
  renderTable(search, experiments);
}

function renderChart(search: SearchInfo, experiments: ExperimentView[]): void {
  // x is the experiment's number, so a point reads as the row of the same id; uPlot wants x sorted.
  const num = (e: ExperimentView) => Number(e.id.slice(1));
  const finished = experiments.filter((e) => e.status !== 'running').sort((a, b) => num(a) - num(b));
  const values = finished.map((e) => e.mean).filter((v): v is number => v !== undefined);
  const top = values.length ? (search.metric.direction === 'lower' ? Math.max(...values) : Math.min(...values)) : 0;
  const xs = finished.map(num);
  const pick = (ok: (e: ExperimentView) => boolean) => finished.map((e) => (ok(e) && e.mean !== undefined ? e.mean : null));
  const bestSoFar: (number | null)[] = [];
  let best: number | undefined;
  for (const e of finished) {
    if ((e.status === 'kept' || e.status === 'baseline') && e.mean !== undefined) {
      if (best === undefined || (search.metric.direction === 'lower' ? e.mean < best : e.mean > best)) best = e.mean;
    }
    bestSoFar.push(best ?? null);
  }
  // Failed runs have no metric: they sit on the worst edge of the chart so they are still seen.
  const failed = finished.map((e) => (e.status === 'failed' || e.status === 'rejected' || e.status === 'cancelled' ? top : null));
  const colors = {
    best: css('--vscode-charts-blue', '#3794ff'),
    kept: css('--vscode-charts-green', '#89d185'),
    discarded: css('--vscode-disabledForeground', '#888'),
    failed: css('--vscode-charts-red', '#f14c4c'),
    flagged: css('--vscode-charts-orange', '#d18616'),
    suspect: css('--vscode-charts-purple', '#b180d7'),
    axis: css('--vscode-foreground', '#ccc'),
    grid: css('--vscode-panel-border', '#8884'),
  };
  const points = (stroke: string, size: number) => ({ stroke, width: 0, paths: () => null, points: { show: true, size, fill: stroke, stroke } });
  const data: uPlot.AlignedData = [
    xs,
    bestSoFar,
    pick((e) => e.status === 'kept' || e.status === 'baseline'),
    pick((e) => e.status === 'discarded'),
    pick(flagged),
    failed,
    pick((e) => e.status === 'suspect' && !flagged(e)),
  ];
  const host = document.getElementById('chart')!;
  const opts: uPlot.Options = {
    width: Math.max(320, host.clientWidth || document.body.clientWidth - 32),
    height: 280,
    // Half a step of margin on x, so the first and last points are drawn whole.
    scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] } },
    axes: [
      { stroke: colors.axis, grid: { stroke: colors.grid }, label: 'experiment', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (_u, splits) => splits.map((v) => `e${v}`) },
      { stroke: colors.axis, grid: { stroke: colors.grid }, label: search.metric.name, size: 70 },
    ],
    series: [
      {},
      { label: 'best so far', stroke: colors.best, width: 2, paths: uPlot.paths.stepped!({ align: 1 }), points: { show: false } },
      { label: 'kept', ...points(colors.kept, 9) },
      { label: 'discarded', ...points(colors.discarded, 7) },
      { label: 'flagged', ...points(colors.flagged, 11) },
      { label: 'failed', ...points(colors.failed, 7) },
      { label: 'suspect', ...points(colors.suspect, 11) },
    ],
    hooks: {
      init: [
        (u) => {
          u.over.addEventListener('click', () => {
            const i = u.cursor.idx;
            if (i !== null && i !== undefined && finished[i]) review(search, finished[i]!);
          });
        },
      ],
    },
  };
  chart?.destroy();
  host.textContent = '';
  chart = new uPlot(opts, data, host);
  const legend = document.getElementById('legend')!;
  legend.textContent = '';
  for (const [label, color] of [['best so far', colors.best], ['kept', colors.kept], ['discarded', colors.discarded], ['flagged (suspected hack)', colors.flagged], ['suspect (held for review)', colors.suspect], ['failed (no metric)', colors.failed]] as const) {
    const span = document.createElement('span');
    const dot = document.createElement('i');
    dot.style.background = color;
    span.append(dot, label);
    legend.append(span);
  }
  if (experiments.some((e) => e.provenance === 'self-reported')) {
    const span = document.createElement('span');
    span.className = 'self-reported';
    span.textContent = `* self-reported ${search.metric.name}: what the script printed, not what a protected evaluation function returned`;
    legend.append(span);
  }
}

const COLUMNS: { key: SortKey; label: string; num?: boolean }[] = [
  { key: 'id', label: 'Experiment' },
  { key: 'thread', label: 'Thread' },
  { key: 'hypothesis', label: 'Hypothesis' },
  { key: 'status', label: 'Status' },
  { key: 'mean', label: 'Metric ± spread', num: true },
  { key: 'delta', label: 'Δ parent', num: true },
  { key: 'runs', label: 'Runs', num: true },
  { key: 'audit', label: 'Audit' },
];

function sortValue(e: ExperimentView, key: SortKey, order: number): string | number {
  switch (key) {
    case 'order':
      return order;
    case 'id':
      return Number(e.id.slice(1));
    case 'thread':
      // 'main' (the baseline) first, then t1, t2, … by number, not as text (t10 after t9).
      return !e.thread || e.thread === 'main' ? 0 : Number(e.thread.slice(1)) || Number.POSITIVE_INFINITY;
    case 'mean':
      return e.mean ?? Number.POSITIVE_INFINITY;
    case 'delta':
      return e.delta ?? Number.POSITIVE_INFINITY;
    case 'runs':
      return e.runs;
    case 'audit':
      return e.audit.length;
    default:
      return String(e[key]);
  }
}

function renderTable(search: SearchInfo, experiments: ExperimentView[]): void {
  const table = document.getElementById('table') as HTMLTableElement;
  const head = table.tHead!;
  head.textContent = '';
  const hr = head.insertRow();
  // The thread column only where there are threads: a search without them looks as it always did.
  const withThreads = threaded(experiments);
  const columns = withThreads ? COLUMNS : COLUMNS.filter((c) => c.key !== 'thread');
  for (const c of columns) {
    const th = document.createElement('th');
    th.textContent = c.label;
    if (state.sortKey === c.key) th.className = state.ascending ? 'sorted asc' : 'sorted';
    th.addEventListener('click', () => {
      state = { ...state, ascending: state.sortKey === c.key ? !state.ascending : true, sortKey: c.key };
      vscode.setState(state);
      render();
    });
    hr.append(th);
  }
  const rows = experiments.map((e, i) => ({ e, i }));
  rows.sort((a, b) => {
    const x = sortValue(a.e, state.sortKey, a.i);
    const y = sortValue(b.e, state.sortKey, b.i);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return state.ascending ? c : -c;
  });
  const body = table.tBodies[0]!;
  body.textContent = '';
  for (const { e } of rows) {
    const tr = body.insertRow();
    tr.dataset.id = e.id;
    const hacks = e.audit.filter((a) => a.severity === 'hack');
    const cells: [string, string?][] = [
      [e.id + (e.isBest ? ' ★' : '')],
      ...(withThreads ? [[threadText(e)] as [string]] : []),
      [e.hypothesis],
      [statusText(e), `status-${flagged(e) ? 'flagged' : e.status}`],
      [e.mean === undefined ? '' : `${fmt(e.mean)}${e.spread ? ` ± ${fmt(e.spread)}` : ''}${e.provenance === 'self-reported' ? ' *' : ''}`, 'num'],
      [e.delta === undefined || e.status === 'baseline' ? '' : `${e.delta > 0 ? '+' : ''}${fmt(e.delta)}`, 'num'],
      [String(e.runs), 'num'],
      [hacks.length ? `⚠ ${hacks.map((a) => `line ${a.line}: ${a.message}`).join('; ')}` : e.audit.length ? `${e.audit.length} warning(s)` : '', hacks.length ? 'hack' : undefined],
    ];
    for (const [text, cls] of cells) {
      const td = tr.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
    tr.title = [
      e.reason ?? e.hypothesis,
      e.review ? `model review (${e.review.model}): ${e.review.verdict} — ${e.review.reason}` : '',
      e.status === 'suspect' ? 'held for review: accept it from its row in the Ratchet view after reviewing the change' : '',
      e.accepted ? `accepted after review by ${e.accepted.by}${e.accepted.reason ? `: ${e.accepted.reason}` : ''}` : '',
      e.provenance === 'self-reported' ? '* self-reported: what the script printed' : '',
      e.usage ? `${e.usage.model}: ${usageText(e.usage)}` : '',
    ]
      .filter(Boolean)
      .join('\n');
    if (e.hasCommit && e.status !== 'baseline') tr.addEventListener('click', () => review(search, e));
  }
}

/** The status cell: a result held for review says so; an accepted one says it was. */
function statusText(e: ExperimentView): string {
  if (e.status === 'suspect') return 'suspect — review';
  return e.accepted ? `${e.status} (accepted)` : e.status;
}

function review(search: SearchInfo, e: ExperimentView): void {
  if (e.hasCommit && e.status !== 'baseline') vscode.postMessage({ type: 'review', searchId: search.id, experimentId: e.id });
}

window.addEventListener('resize', () => chart?.setSize({ width: Math.max(320, document.body.clientWidth - 32), height: 280 }));
if (state.last) render();
vscode.postMessage({ type: 'ready' });
