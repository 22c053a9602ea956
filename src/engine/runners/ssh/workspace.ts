// What lives on a host, and the few shell scripts that manage it. Under the runner's root folder:
//   harness/<content hash>/   the harness package, installed once per version
//   base/<commit>/tree/        the search's base snapshot, uploaded once
//   base/<commit>/tree.spares/ copies of the tree made ahead of time, claimed by renaming
//   runs/<name>/               one run: patch.diff, work/ (base + patch), out.jsonl, err.log,
//                              pid, pgid and status, written by a detached session leader
// Every value in these scripts is passed through shellQuote; the scripts themselves are fixed
// text. Starting a run takes no shell at all: the command server gets the paths as data.
import { Transform, type Readable } from 'node:stream';
import type { HostConnection } from './connection';
import { shellQuote } from './quote';

export class RemoteError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(stderr.trim() ? `${message}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : message);
    this.name = 'RemoteError';
  }
}

/** The root's absolute path on the host (created if missing); relative roots start at the login folder. */
export async function resolveRoot(conn: HostConnection, root: string): Promise<string> {
  const r = await conn.exec(`mkdir -p -- ${shellQuote(root)} && cd -- ${shellQuote(root)} && pwd -P`);
  if (r.code !== 0) throw new RemoteError(`cannot create the remote folder ${root}`, r.stderr);
  return r.stdout.toString('utf8').replace(/\n$/, '');
}

export const harnessPath = (root: string, hash: string) => `${root}/harness/${hash}`;
export const baseTreePath = (root: string, commit: string) => `${root}/base/${commit}/tree`;
export const runPath = (root: string, name: string) => `${root}/runs/${name}`;

/** Whether an upload already finished on the host (a folder is only marked complete at the end). */
export async function isInstalled(conn: HostConnection, dir: string): Promise<boolean> {
  const r = await conn.exec(`test -f ${shellQuote(`${dir}/complete`)}`);
  return r.code === 0;
}

/**
 * Unpacks a gzipped tar stream into `dir/<sub>` atomically: into a temporary folder first, then
 * renamed, so a dropped connection never leaves a half-written tree that looks complete.
 * Returns the bytes sent.
 */
export async function uploadTree(conn: HostConnection, dir: string, sub: string, tarGz: Readable): Promise<number> {
  let bytes = 0;
  // Counted on the way through: a 'data' listener would start the stream before the channel is open.
  const counted = tarGz.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    }),
  );
  const script = [
    'set -e',
    `final=${shellQuote(dir)}`,
    `sub=${shellQuote(sub)}`,
    'tmp="$final.tmp.$$"',
    'rm -rf -- "$tmp"',
    'mkdir -p -- "$tmp/$sub"',
    'tar -xzf - -C "$tmp/$sub"',
    'touch -- "$tmp/complete"',
    // Another engine may have finished the same upload meanwhile: its copy is as good as ours.
    'mv -T -- "$tmp" "$final" 2>/dev/null || rm -rf -- "$tmp"',
  ].join('\n');
  const r = await conn.exec(script, { input: counted, timeoutMs: 60000 });
  if (r.code !== 0) throw new RemoteError(`upload to ${dir} failed`, r.stderr);
  return bytes + script.length;
}

export interface StartSpec {
  runDir: string;
  baseTree: string;
  harnessDir: string;
  /** Arguments after `python -m ratchet_harness`. */
  harnessArgs: string[];
  patch: Buffer;
  /** Spare copies of the base to keep ready (about the host's slot count). */
  spares: number;
}

/**
 * Prepares the run folder — a copy of the base with the patch applied — and starts the harness
 * detached: its own session, output to files, so it outlives the connection that started it.
 * Copying a large tree is the slow part, so spare copies are kept ready beside the base: a run
 * renames one into place and the host makes another in the background. Returns the bytes sent.
 */
export async function startRun(conn: HostConnection, spec: StartSpec, signal?: AbortSignal): Promise<number> {
  const request = { dir: spec.runDir, base: spec.baseTree, spares: Math.max(1, spec.spares), pythonpath: spec.harnessDir, argv: spec.harnessArgs };
  const r = await conn.startHarness(request, spec.patch, signal);
  if (r.code !== 0) throw new RemoteError('could not start the run on the host', r.stderr);
  return JSON.stringify(request).length + spec.patch.length;
}

/** Streams out.jsonl from a byte offset until the harness exits; reports the wrapper's status on stderr. */
export function attachScript(runDir: string, offset: number): string {
  return [
    `cd -- ${shellQuote(runDir)} || exit 97`,
    'i=0; while [ ! -f pid ]; do i=$((i+1)); [ $i -gt 400 ] && exit 98; sleep 0.05; done',
    `tail -c +${offset + 1} -s 0.05 -f --pid="$(cat pid)" out.jsonl`,
    'i=0; while [ ! -f status ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.05; done',
    '[ -f status ] && printf "RATCHET-STATUS %s\\n" "$(cat status)" >&2',
    'exit 0',
  ].join('\n');
}

/**
 * Stops a run: SIGTERM to the harness, which stops its command's process group and reports
 * `end: cancelled`; after the grace, SIGKILL to every group the run made.
 */
export function cancelScript(runDir: string, graceSeconds: number): string {
  const ticks = Math.ceil((graceSeconds + 3) * 20);
  return [
    `cd -- ${shellQuote(runDir)} 2>/dev/null || exit 0`,
    'i=0; while [ ! -f pid ] && [ $i -lt 40 ]; do i=$((i+1)); sleep 0.05; done',
    '[ -f pid ] || exit 0',
    'hp=$(cat pid); pg=$(cat pgid 2>/dev/null || true)',
    'kill -TERM "$hp" 2>/dev/null || true',
    `i=0; while [ ! -f status ] && [ $i -lt ${ticks} ]; do i=$((i+1)); sleep 0.05; done`,
    'if [ ! -f status ]; then',
    '  for c in $(ps -o pid= --ppid "$hp" 2>/dev/null); do kill -KILL -- "-$c" 2>/dev/null || true; done',
    '  [ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null || true',
    'fi',
    'exit 0',
  ].join('\n');
}

export function removeScript(runDir: string): string {
  return `rm -rf -- ${shellQuote(runDir)}`;
}

/** The last bytes of the harness's own stderr, for a run that ended without reporting. */
export function stderrTailScript(runDir: string): string {
  return `tail -c 2000 -- ${shellQuote(`${runDir}/err.log`)} 2>/dev/null || true`;
}
