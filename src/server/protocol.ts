// The ratchet/* requests and notifications between the extension and the engine's language
// server. Plain data only: this file is shared by both sides and imports neither.
import type { UsageTotal } from '../engine/llm/usage';
import type { Provenance } from '../engine/provenance';
import type { AuditFinding, Direction, ExperimentRecord, ModelReview, ProposalUsage } from '../engine/types';

export const Requests = {
  startSearch: 'ratchet/startSearch',
  stopSearch: 'ratchet/stopSearch',
  resumeSearch: 'ratchet/resumeSearch',
  searches: 'ratchet/searches',
  experiments: 'ratchet/experiments',
  experimentDiff: 'ratchet/experimentDiff',
  fileAt: 'ratchet/fileAt',
  mergePlan: 'ratchet/mergePlan',
  runLog: 'ratchet/runLog',
  researchFiles: 'ratchet/researchFiles',
  /** Accept a result held for review (suspect) as a real gain: it is kept from then on. */
  acceptExperiment: 'ratchet/accept',
} as const;

/** Requests the server sends the client: what only the editor has. */
export const ClientRequests = {
  /** One chat turn with one of the editor's own language models (vscode.lm). */
  lmChat: 'ratchet/lmChat',
  /** A model provider's key from the editor's secret storage (to resume a search). */
  apiKey: 'ratchet/apiKey',
} as const;

export const Notifications = {
  /** Something about a search changed: views re-ask for what they show. */
  searchUpdated: 'ratchet/searchUpdated',
  /** A line for the run log output channel. */
  log: 'ratchet/log',
} as const;

/** The scheme of the virtual documents that hold a file as an experiment left it. */
export const EXPERIMENT_SCHEME = 'ratchet-experiment';

export interface StartSearchParams {
  /** Absolute path of the file to improve. */
  file: string;
  proposer?: string;
  /** Folder of patches for the replay proposer (absolute). */
  patches?: string;
  parallel?: number;
  maxExperiments?: number;
  timeLimitSeconds?: number;
  /** SSH targets to run on (the `ratchet.hosts` setting); none: this machine. */
  hosts?: string[];
  /** SSH config file instead of ~/.ssh/config (the `ratchet.sshConfigFile` setting). */
  sshConfigFile?: string;
  /** The model, for the llm proposer (the `ratchet.model.*` settings). */
  model?: ModelSettings;
  /** What the model may cost this search, for the llm proposer. */
  budget?: ModelBudgetSettings;
  /** Lines of research open at once (the `ratchet.threads` setting). */
  threads?: number;
  /** More environment variables the runs must not see (the `ratchet.scrubEnv` setting). */
  scrubEnv?: string[];
  /**
   * The provider's key from the editor's secret storage. It travels only over the local IPC
   * connection; the server hands it to the model client and never stores or logs it.
   */
  apiKey?: string;
}

/** The `ratchet.model.*` settings as the user typed them; the server checks them. */
export interface ModelSettings {
  /** `provider:model`, e.g. `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`, `vscode:copilot/gpt-4o`. */
  name: string;
  baseUrl?: string;
  /** "IN/OUT": dollars per million input/output tokens. */
  price?: string;
  contextTokens?: number;
  /** false: the model does not review results before they are kept (`ratchet.model.review`). */
  review?: boolean;
}

export interface ModelBudgetSettings {
  usd?: number;
  tokens?: number;
}

export interface ResumeSearchParams {
  searchId?: string;
  /** Absolute path: resume the latest search on this file. */
  file?: string;
  /** A new model budget for an llm search (e.g. raised after it ran out); absent: the stored one. */
  budget?: ModelBudgetSettings;
  /** Whether the model reviews results before they are kept (`ratchet.model.review`); absent: as stored. */
  review?: boolean;
  /** Names added to the ones the search already keeps from its runs (the `ratchet.scrubEnv` setting). */
  scrubEnv?: string[];
}

/** Picks one of the editor's language models; `vscode:copilot/gpt-4o` is {vendor: 'copilot', family: 'gpt-4o'}. */
export interface LmSelector {
  vendor?: string;
  family?: string;
  id?: string;
}

export interface LmChatParams {
  selector: LmSelector;
  /** The engine's instructions; the client sends them as the first user message (vscode.lm has no system role). */
  system: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
  maxTokens: number;
  temperature?: number;
}

export interface LmChatResult {
  text: string;
  /** Counted with the model's own tokenizer. */
  inputTokens: number;
  outputTokens: number;
  /** The model that answered, e.g. `copilot/gpt-4o`. */
  model: string;
}

/** The `data` of a ratchet/lmChat error response: what the user should do, and a stable code. */
export interface LmChatErrorData {
  hint?: string;
  code: string;
}

export interface ApiKeyParams {
  provider: string;
}

export interface ApiKeyResult {
  apiKey?: string;
}

export interface SearchRef {
  searchId: string;
}

export interface ExperimentRef extends SearchRef {
  experimentId: string;
}

export type ExperimentStatus = 'running' | 'baseline' | 'kept' | 'discarded' | 'failed' | 'rejected' | 'flagged' | 'suspect' | 'cancelled';

export interface ExperimentView {
  id: string;
  parent?: string;
  hypothesis: string;
  status: ExperimentStatus;
  /** Why it was discarded, failed, rejected or flagged. */
  reason?: string;
  mean?: number;
  spread?: number;
  /** mean − parent's mean, in the metric's units (sign as is; the direction says which is good). */
  delta?: number;
  runs: number;
  audit: AuditFinding[];
  isBest: boolean;
  hasCommit: boolean;
  /** Its thread of research: 'main' without threads; absent for a running one whose thread the server does not know. */
  thread?: string;
  /** Why the policy asked for it (absent: improve, or an older record). */
  intent?: ExperimentRecord['intent'];
  /** For a combine: the experiment brought in; for a debug: the failed one it fixes. */
  other?: string;
  /** What the model calls behind it cost. */
  usage?: ProposalUsage;
  /** Where its metric came from; absent when no run produced a value. */
  provenance?: Provenance;
  /** The auditor model's opinion, when one was asked. */
  review?: ModelReview;
  /** Set when a person accepted it after it was held for review (it is then kept). */
  accepted?: { at: string; by: string; reason: string };
}

/** Model calls summed over a search. */
export type { UsageTotal };
/** Where a metric came from: 'evaluator', 'harness' or 'self-reported'. */
export type { Provenance };

/** A thread of research as the tree shows it. */
export interface ThreadSummary {
  id: string;
  /** The hypothesis of its first experiment. */
  focus: string;
  /** Finished experiments in it. */
  experiments: number;
  /** Running experiments in it. */
  running: number;
  /** Its best kept experiment, when one was kept. */
  best?: { id: string; mean: number };
  /** Experiments since its best improved, as the search policy counts them. */
  sinceImprovement: number;
  /** Whether the policy still extends it (false: stale, closed). */
  open: boolean;
}

export interface SearchInfo {
  id: string;
  /** Repo-relative path of the searched file. */
  file: string;
  /** Absolute path of the searched file. */
  path: string;
  metric: { name: string; direction: Direction };
  running: boolean;
  /** Experiments started but not finished. */
  active: number;
  stoppedBecause?: string;
  baseline?: number;
  best?: { id: string; mean: number };
  experiments: number;
  runs: number;
  flagged: number;
  createdAt: string;
  /** Its threads of research, in the order they started; absent when it has none. */
  threads?: ThreadSummary[];
  /** What its model calls cost so far; absent when no model made its experiments. */
  usage?: UsageTotal;
  /** Where the numbers the search stands on (its best, else its baseline) came from. */
  provenance?: Provenance;
  /** Results held for review (suspect), waiting for a person to accept them; absent when none. */
  held?: { id: string; reason: string }[];
}

export interface AcceptParams extends ExperimentRef {
  /** Why the person believes the gain, for the journal. */
  reason?: string;
}

export interface AcceptResult {
  /** The experiment as it now reads: kept. */
  experiment: ExperimentView;
  /** Whether it is now the search's best. */
  isBest: boolean;
}

/** Where a search's research memory lives: the notes the model keeps, the guidance the user writes. */
export interface ResearchFiles {
  /** The model's notes (absolute path; may not exist yet). */
  notes: string;
  /** The user's guidance, read before every proposal (absolute path; may not exist yet). */
  guidance: string;
}

export interface ExperimentDiffParams extends ExperimentRef {
  against: 'parent' | 'baseline';
}

export interface ExperimentDiff {
  /** Repo-relative path of the searched file. */
  file: string;
  /** What the left side is: an experiment id or 'baseline'. */
  leftId: string;
  title: string;
  /** A longer description: hypothesis, results, audit. */
  detail: string;
}

export interface FileAtParams extends ExperimentRef {
  /** Repo-relative path. */
  file: string;
}

export interface MergePlan {
  /** Absolute path of the file the experiment changes. */
  path: string;
  /** The file as the search started from it. */
  baseline: string;
  /** The file as the experiment left it. */
  result: string;
  /** Unified diff baseline → result of that file, to apply over the user's own edits. */
  patch: string;
}

export interface SearchUpdate {
  searchId: string;
  kind: string;
  message?: string;
}

export interface LogLine {
  searchId: string;
  text: string;
}

/** Path of a virtual document: /<searchId>/<experimentId>/<repo-relative file>. */
export function experimentDocPath(searchId: string, experimentId: string, file: string): string {
  return `/${searchId}/${experimentId}/${file}`;
}

export function parseExperimentDocPath(p: string): { searchId: string; experimentId: string; file: string } | undefined {
  const m = /^\/([^/]+)\/([^/]+)\/(.+)$/.exec(p);
  return m ? { searchId: m[1]!, experimentId: m[2]!, file: m[3]! } : undefined;
}
