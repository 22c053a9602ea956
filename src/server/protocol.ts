// The ratchet/* requests and notifications between the extension and the engine's language
// server. Plain data only: this file is shared by both sides and imports neither.
import type { AuditFinding, Direction } from '../engine/types';

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
}

export interface ResumeSearchParams {
  searchId?: string;
  /** Absolute path: resume the latest search on this file. */
  file?: string;
}

export interface SearchRef {
  searchId: string;
}

export interface ExperimentRef extends SearchRef {
  experimentId: string;
}

export type ExperimentStatus = 'running' | 'baseline' | 'kept' | 'discarded' | 'failed' | 'rejected' | 'flagged' | 'cancelled';

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
