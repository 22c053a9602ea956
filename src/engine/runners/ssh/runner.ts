// Runs experiments on a pool of SSH hosts. Each host gets one connection, the harness (once per
// version) and the search's base snapshot (once); each run then sends only its patch, starts the
// harness detached, and follows its event file. A dropped connection is re-attached where it left
// off; a host gone for longer than `lostAfterMs` loses the run, which is queued again elsewhere.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import picomatch from 'picomatch';
import { RatchetError } from '../../errors';
import { git } from '../../git/repo';
import type { Runner, RunRequest, RunResult, Slot } from '../../types';
import { DEFAULT_LOG_CAP, DEFAULT_TAIL_BYTES, RunLog } from '../run-log';
import type { AgentProcess } from './agent';
import { KeyStore, noPrompts, type SshPrompts } from './auth';
import { resolveHost, type HostConfig } from './config';
import { HostConnection, HostUnreachable } from './connection';
import { harnessBundle, type HarnessBundle } from './harness-bundle';
import { contractArgs, kernelArgs, placeContract, ProtocolReader, scrubArgs } from '../harness';
import { placeKernel } from '../../task/kernel';
import { KnownHosts } from './known-hosts';
import { safeName, shellQuote } from './quote';
import { NoHostAvailable, SlotPool, type HostSlot } from './slots';
import {
  attachScript,
  baseTreePath,
  cancelScript,
  harnessPath,
  isInstalled,
  removeScript,
  resolveRoot,
  runPath,
  startRun,
  stderrTailScript,
  uploadTree,
} from './workspace';

export interface SshRunnerOptions {
  /** ssh targets: aliases from the ssh config, `user@host` or `user@host:port`. */
  hosts: string[];
  prompts?: SshPrompts;
  /** ssh config file instead of ~/.ssh/config. */
  sshConfigFile?: string;
  /** known_hosts files instead of those the ssh config names. */
  knownHostsFiles?: string[];
  /** Folder on each host for the harness, snapshots and runs; relative to the login folder. */
  remoteRoot?: string;
  python?: string;
  /** Folder holding `ratchet_harness/`; found beside the engine by default. */
  harnessDir?: string;
  /** Most runs at a time on one host (default: one per GPU). */
  maxRunsPerHost?: number;
  /** How long a host may stay unreachable before its runs are given up and queued elsewhere. */
  lostAfterMs?: number;
  /** How many hosts one run may be lost on before it fails. */
  maxAttempts?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
  backoffMs?: { first: number; max: number };
  killGraceMs?: number;
  logCapBytes?: number;
  tailBytes?: number;
  /** Keep run folders on the hosts after the result is collected (for debugging). */
  keepRunFolders?: boolean;
  /** Timing of every run as the harness saw it; used by the benchmark. */
  onRunEvent?: (e: RunEvent) => void;
}

export interface RunEvent {
  experimentId: string;
  seed: number;
  type: 'sent' | 'start' | 'end';
  /** Clock of the host for start and end (seconds since the epoch), of this machine for sent. */
  time: number;
  host: string;
  bytesSent?: number;
}

interface RemoteHost {
  target: string;
  conn: HostConnection;
  root?: string;
  harness?: Promise<void>;
  bases: Map<string, Promise<void>>;
  /** Run folders whose runs were given up while the host was away: stopped when it returns. */
  orphans: Set<string>;
  probed: boolean;
}

type Attempt = { kind: 'done'; result: RunResult } | { kind: 'lost'; reason: string };

const REMOTE_ROOT = '.cache/ratchet';

export class SshRunner implements Runner {
  readonly name = 'ssh';
  private readonly hosts = new Map<string, RemoteHost>();
  private readonly pool = new SlotPool();
  private virtualSlots: Slot[] = [];
  private bundle: HarnessBundle | undefined;
  private readonly patches = new Map<string, Promise<{ patch: Buffer; protect: string[]; files: string[] }>>();
  /** Bytes sent to set hosts up (harness, snapshots), apart from the per-run bytes. */
  setupBytes = 0;

  constructor(private readonly opts: SshRunnerOptions) {
    if (opts.hosts.length === 0) throw new RatchetError('no host given', 'name at least one ssh host');
  }

  private get lostAfterMs(): number {
    return this.opts.lostAfterMs ?? 60000;
  }

  /** Resolves, connects and probes every host; fails when none can run anything. */
  async start(): Promise<void> {
    this.bundle = await harnessBundle(this.opts.harnessDir);
    const prompts = this.opts.prompts ?? noPrompts;
    const keys = new KeyStore(prompts);
    const configs = await Promise.all(this.opts.hosts.map((t) => resolveHost(t, { configFile: this.opts.sshConfigFile })));
    const knownHostsFor = (cfg: HostConfig) =>
      new KnownHosts({
        files: this.opts.knownHostsFiles ?? (cfg.knownHostsFiles.length > 0 ? cfg.knownHostsFiles : [path.join(os.homedir(), '.ssh', 'known_hosts')]),
        hashNew: cfg.hashKnownHosts,
        confirm: (q) => prompts.hostKey(q),
      });
    const connect = (cfg: HostConfig): HostConnection => {
      let openSocket: (() => Promise<Readable>) | undefined;
      if (cfg.proxyJump) {
        const hops = cfg.proxyJump.split(',');
        const last = hops.pop()!;
        const jump = resolveHost(last, { configFile: this.opts.sshConfigFile }).then((j) =>
          connect({ ...j, proxyJump: hops.length > 0 ? hops.join(',') : undefined }),
        );
        openSocket = async () => {
          const client = await (await jump).ready(this.opts.readyTimeoutMs ?? 20000);
          return new Promise<Readable>((resolve, reject) =>
            client.forwardOut('127.0.0.1', 0, cfg.hostname, cfg.port, (err, stream) => (err ? reject(err) : resolve(stream))),
          );
        };
      }
      return new HostConnection(cfg, {
        knownHosts: knownHostsFor(cfg),
        keys,
        prompts,
        keepaliveIntervalMs: this.opts.keepaliveIntervalMs,
        keepaliveCountMax: this.opts.keepaliveCountMax,
        readyTimeoutMs: this.opts.readyTimeoutMs,
        backoffMs: this.opts.backoffMs,
        python: this.opts.python,
        openSocket,
      });
    };
    for (const cfg of configs) {
      if (this.hosts.has(cfg.target)) continue;
      const host: RemoteHost = { target: cfg.target, conn: connect(cfg), bases: new Map(), orphans: new Set(), probed: false };
      this.hosts.set(cfg.target, host);
      host.conn.on('up', () => void this.onUp(host));
      host.conn.on('down', () => this.pool.setUp(host.target, false));
    }
    const results = await Promise.allSettled([...this.hosts.values()].map((h) => this.prepare(h)));
    const fatal = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason instanceof RatchetError);
    if (fatal) {
      this.close();
      throw fatal.reason;
    }
    if (!this.pool.anyUp) {
      const reasons = [...this.hosts.values()].map((h) => `${h.target}: ${h.conn.lastFailure}`).join('; ');
      this.close();
      throw new RatchetError(`no host could be reached (${reasons})`, 'check that `ssh HOST true` works for at least one of them');
    }
    const perHost = (h: RemoteHost) => (h.probed ? this.slotCount(h) : (this.opts.maxRunsPerHost ?? 1));
    const capacity = [...this.hosts.values()].reduce((n, h) => n + perHost(h), 0);
    this.virtualSlots = Array.from({ length: capacity }, (_, i) => ({ id: `ssh#${i}`, env: {} }));
  }

  private slotCount(h: RemoteHost): number {
    return this.slotIds.get(h.target)?.length ?? 1;
  }

  private readonly slotIds = new Map<string, (string | undefined)[]>();

  /** Connects, installs the harness and probes the GPUs; the host joins the rotation when done. */
  private async prepare(host: RemoteHost): Promise<void> {
    await host.conn.connect();
    await this.onUp(host);
  }

  private async onUp(host: RemoteHost): Promise<void> {
    try {
      host.root ??= await resolveRoot(host.conn, this.opts.remoteRoot ?? REMOTE_ROOT);
      host.harness ??= this.installHarness(host);
      await host.harness.catch((e) => {
        host.harness = undefined;
        throw e;
      });
      if (!host.probed) {
        const gpus = await this.probe(host);
        const limited = gpus.slice(0, Math.max(1, this.opts.maxRunsPerHost ?? gpus.length));
        this.slotIds.set(host.target, limited);
        this.pool.setSlots(host.target, limited);
        host.probed = true;
      }
      for (const dir of [...host.orphans]) {
        host.orphans.delete(dir);
        void this.stopRemote(host, dir);
      }
      if (host.conn.isUp) this.pool.setUp(host.target, true);
    } catch (e) {
      if (e instanceof HostUnreachable) return; // it will come up again, or stay out of rotation
      throw e;
    }
  }

  private async installHarness(host: RemoteHost): Promise<void> {
    const dir = harnessPath(host.root!, this.bundle!.hash);
    if (await isInstalled(host.conn, dir)) return;
    this.setupBytes += await uploadTree(host.conn, dir, '.', this.bundle!.tarGz());
  }

  /** The host's GPUs (CUDA_VISIBLE_DEVICES values); one CPU slot when it has none. */
  private async probe(host: RemoteHost): Promise<(string | undefined)[]> {
    const python = host.conn.python || (this.opts.python ?? 'python3');
    const cmd = `PYTHONPATH=${shellQuote(harnessPath(host.root!, this.bundle!.hash))} ${shellQuote(python)} -m ratchet_harness probe --experiment-id=probe`;
    const r = await host.conn.exec(cmd, { timeoutMs: 60000 });
    for (const line of r.stdout.toString('utf8').split('\n')) {
      try {
        const e = JSON.parse(line) as { type?: string; gpus?: { index?: number | null }[] };
        if (e.type === 'probe' && Array.isArray(e.gpus)) {
          const gpus = e.gpus.map((g, i) => String(g.index ?? i));
          return gpus.length > 0 ? gpus : [undefined];
        }
      } catch {
        // not an event line
      }
    }
    // No harness answer (no Python?): count what nvidia-smi lists.
    const smi = await host.conn.exec('nvidia-smi -L 2>/dev/null || true');
    const n = smi.stdout.toString('utf8').split('\n').filter((l) => /^GPU \d+/.test(l)).length;
    return n > 0 ? Array.from({ length: n }, (_, i) => String(i)) : [undefined];
  }

  slots(): Slot[] {
    if (this.virtualSlots.length === 0) throw new Error('SshRunner.start() must finish before slots() is asked');
    return this.virtualSlots;
  }

  /** Where a host stands, for progress displays and tests. */
  hostStatus(): { target: string; up: boolean; slots: number }[] {
    return [...this.hosts.values()].map((h) => ({ target: h.target, up: this.pool.isUp(h.target), slots: this.slotCount(h) }));
  }

  /** The connection of a host, so tests can drop it. */
  connectionOf(target: string): HostConnection | undefined {
    return this.hosts.get(target)?.conn;
  }

  async run(req: RunRequest): Promise<RunResult> {
    const started = Date.now();
    const log = new RunLog(req.logPath, this.opts.logCapBytes ?? DEFAULT_LOG_CAP, this.opts.tailBytes ?? DEFAULT_TAIL_BYTES, req.redact);
    const lostOn: string[] = [];
    try {
      for (let attempt = 1; ; attempt++) {
        let slot: HostSlot;
        try {
          slot = await this.acquire(req.signal);
        } catch (e) {
          if (req.signal.aborted) return log.result({ cancelled: true, started });
          return log.result({ started, spawnError: (e as Error).message });
        }
        try {
          const outcome = await this.attempt(slot, req, log);
          if (outcome.kind === 'done') return { ...outcome.result, slot: slot.id, host: slot.id, durationMs: Date.now() - started };
          lostOn.push(slot.host);
          log.note(`[ratchet: lost the run on ${slot.host} (${outcome.reason}); queued again]`);
          if (req.signal.aborted) return log.result({ cancelled: true, started, host: slot.id });
          if (attempt >= (this.opts.maxAttempts ?? 3)) {
            return log.result({ started, spawnError: `the run was lost ${attempt} times (hosts ${lostOn.join(', ')} became unreachable)`, host: slot.id });
          }
        } finally {
          this.pool.release(slot);
        }
      }
    } finally {
      log.close();
    }
  }

  /** A free slot; when no host is up, waits up to lostAfterMs for one to come back. */
  private acquire(signal: AbortSignal): Promise<HostSlot> {
    const wanted = this.pool.acquire(signal);
    if (this.pool.anyUp) return wanted;
    return new Promise<HostSlot>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pool.anyUp) this.pool.failWaiting(new NoHostAvailable(`no host is reachable: ${[...this.hosts.values()].map((h) => `${h.target}: ${h.conn.lastFailure}`).join('; ')}`));
      }, this.lostAfterMs);
      wanted.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  private async attempt(slot: HostSlot, req: RunRequest, log: RunLog): Promise<Attempt> {
    const host = this.hosts.get(slot.host)!;
    const conn = host.conn;
    const runDir = runPath(host.root!, `${safeName(req.experimentId)}-s${req.seed}-${randomBytes(4).toString('hex')}`);
    let started = false;
    try {
      await this.ensureBase(host, req);
      const { patch, protect, files } = await this.patchFor(req);
      const bytesSent = await startRun(conn, {
        runDir,
        baseTree: baseTreePath(host.root!, req.baseCommit),
        harnessDir: harnessPath(host.root!, this.bundle!.hash),
        harnessArgs: this.harnessArgs(req, slot, protect, files),
        patch,
        spares: this.slotCount(host) + 1,
      }, req.signal);
      started = true;
      this.opts.onRunEvent?.({ experimentId: req.experimentId, seed: req.seed, type: 'sent', time: Date.now() / 1000, host: slot.id, bytesSent });
      const result = await this.follow(host, slot, runDir, req, log);
      if (result.kind === 'done') {
        result.result.bytesSent = bytesSent;
        if (!this.opts.keepRunFolders) void conn.exec(removeScript(runDir)).catch(() => undefined);
      }
      return result;
    } catch (e) {
      if (e instanceof HostUnreachable) {
        // It may have started before the link went: stop it once the host is back.
        host.orphans.add(runDir);
        return { kind: 'lost', reason: e.reason };
      }
      if (req.signal.aborted && !started) return { kind: 'done', result: log.result({ cancelled: true, started: Date.now(), host: slot.id }) };
      return { kind: 'done', result: log.result({ started: Date.now(), spawnError: (e as Error).message, host: slot.id }) };
    }
  }

  private harnessArgs(req: RunRequest, slot: HostSlot, protect: string[], files: string[]): string[] {
    const env = { ...req.slot.env, ...req.env };
    for (const k of Object.keys(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new RatchetError(`not an environment variable name: ${JSON.stringify(k)}`, 'fix "env" in the task file');
    }
    if (req.kernel) {
      // The harness runs in the run folder; the commit's files are under work/.
      return kernelArgs({
        experimentId: req.experimentId,
        kernel: placeKernel(req.kernel, (p) => path.posix.join('work', p)),
        budgetSeconds: req.timeoutMs / 1000,
        cwd: 'work',
        protect,
        seed: req.seed,
        gpu: slot.gpu,
        env,
        scrubEnv: req.scrubEnv,
      }).slice(2); // without `-m ratchet_harness`: the run wrapper adds it
    }
    const command = req.cwd ? `cd ${shellQuote(req.cwd)} && ${req.command}` : req.command;
    const args = [
      'train',
      `--experiment-id=${req.experimentId}`,
      `--budget-seconds=${req.timeoutMs / 1000}`,
      '--cwd=work',
      `--kill-grace-seconds=${(this.opts.killGraceMs ?? 2000) / 1000}`,
      `--max-log-bytes=${this.opts.logCapBytes ?? DEFAULT_LOG_CAP}`,
    ];
    if (req.seed >= 0) args.push(`--seed=${req.seed}`);
    if (slot.gpu !== undefined) args.push(`--gpu=${slot.gpu}`);
    for (const [k, v] of Object.entries(env)) args.push(`--env=${k}=${v}`);
    // The run's environment is the host's own: the harness drops these names from it.
    args.push(...scrubArgs(req.scrubEnv));
    // The harness runs from the run folder's root, so the contract's paths are repo-relative there.
    args.push('--run-root=work', ...contractArgs(placeContract(req.contract, '', files)));
    // `./` keeps a file named like an option (or `--`) from being read as one.
    if (protect.length > 0) args.push('--protect', ...protect.map((f) => `./${f}`));
    args.push('--', command);
    return args;
  }

  private ensureBase(host: RemoteHost, req: RunRequest): Promise<void> {
    let done = host.bases.get(req.baseCommit);
    if (!done) {
      done = (async () => {
        const dir = path.posix.dirname(baseTreePath(host.root!, req.baseCommit));
        if (await isInstalled(host.conn, dir)) return;
        const archive = spawn('git', ['archive', '--format=tar.gz', '-1', req.baseCommit], { cwd: req.repoRoot, stdio: ['ignore', 'pipe', 'ignore'] });
        this.setupBytes += await uploadTree(host.conn, dir, 'tree', archive.stdout);
      })();
      host.bases.set(req.baseCommit, done);
      done.catch(() => host.bases.delete(req.baseCommit));
    }
    return done;
  }

  private patchFor(req: RunRequest): Promise<{ patch: Buffer; protect: string[]; files: string[] }> {
    const key = `${req.baseCommit}..${req.commit}`;
    let p = this.patches.get(key);
    if (!p) {
      p = (async () => {
        const diff =
          req.commit === req.baseCommit
            ? ''
            : await git(req.repoRoot, ['diff', '--binary', '--no-color', '--no-ext-diff', '--full-index', req.baseCommit, req.commit]);
        const files = (await git(req.repoRoot, ['ls-tree', '-r', '-z', '--name-only', req.commit])).split('\0').filter(Boolean);
        let protect: string[] = [];
        if (req.protected.length > 0) {
          const isProtected = picomatch([...req.protected], { dot: true });
          protect = files.filter((f) => isProtected(f));
        }
        return { patch: Buffer.from(diff, 'utf8'), protect, files };
      })();
      this.patches.set(key, p);
      p.catch(() => this.patches.delete(key));
    }
    return p;
  }

  /** Follows a started run to its end, re-attaching after dropped connections. */
  private async follow(host: RemoteHost, slot: HostSlot, runDir: string, req: RunRequest, log: RunLog): Promise<Attempt> {
    const conn = host.conn;
    const started = Date.now();
    const emit = (type: 'start' | 'end', time: number) =>
      this.opts.onRunEvent?.({ experimentId: req.experimentId, seed: req.seed, type, time, host: slot.id });
    // The harness runs from the run folder's root, so its paths are already repo-relative.
    const reader = new ProtocolReader(req.experimentId, { output: (line) => log.line(line), started: (t) => emit('start', t) }, '');
    let cancelled = false;
    let timedOut = false;
    const stop = () => {
      void this.stopRemote(host, runDir);
    };
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    // The harness enforces the budget; this only catches a harness that cannot.
    const guard = setTimeout(() => {
      timedOut = true;
      stop();
    }, req.timeoutMs + (this.opts.killGraceMs ?? 2000) + 30000);
    let status: number | undefined;
    let failures = 0;
    try {
      while (!reader.end && status === undefined) {
        if (!conn.isUp && cancelled) {
          host.orphans.add(runDir);
          return { kind: 'done', result: log.result({ cancelled: true, started, host: slot.id }) };
        }
        const waitMs = conn.isUp ? this.lostAfterMs : Math.max(0, this.lostAfterMs - (Date.now() - (conn.downSince ?? Date.now())));
        let channel: AgentProcess;
        try {
          channel = await conn.stream(attachScript(runDir, reader.offset), waitMs, req.signal.aborted ? undefined : req.signal);
        } catch (e) {
          if (e instanceof HostUnreachable) {
            if (cancelled) continue;
            host.orphans.add(runDir);
            return { kind: 'lost', reason: e.reason };
          }
          throw e;
        }
        const r = await pump(conn, channel, reader);
        reader.resetPartial();
        if (r.status !== undefined) status = r.status;
        else if (r.code === 97 || r.code === 98) throw new Error(`the run folder on ${host.target} is gone or its harness never started`);
        else if (!r.lost && !reader.end && ++failures > 5) throw new Error(`cannot follow the run on ${host.target} (attach exited with ${r.code})`);
      }
    } finally {
      clearTimeout(guard);
      req.signal.removeEventListener('abort', onAbort);
    }
    if (reader.endTime !== undefined) emit('end', reader.endTime);
    const end = reader.end;
    if (reader.droppedLines > 0) log.appendTail(reader.metricLines());
    if (!end) {
      const err = await conn.exec(stderrTailScript(runDir)).catch(() => undefined);
      return {
        kind: 'done',
        result: log.result({
          started,
          host: slot.id,
          spawnError: `the harness exited with status ${status} without reporting an end: ${err?.stdout.toString('utf8').trim().split('\n').slice(-3).join(' | ') ?? ''}`,
          audit: reader.audit,
        }),
      };
    }
    return {
      kind: 'done',
      result: log.result({
        started,
        host: slot.id,
        exitCode: end.reason === 'ok' ? (end.exitCode ?? 0) : end.exitCode,
        signal: end.signal,
        timedOut: timedOut || end.reason === 'timeout',
        // The guard's own stop reads as a timeout, not as the user's cancel.
        cancelled: cancelled || (end.reason === 'cancelled' && !timedOut),
        spawnError: end.reason === 'error' ? (end.message ?? 'the harness could not start the command') : undefined,
        ...reader.results(),
        failure: reader.failure,
      }),
    };
  }

  private async stopRemote(host: RemoteHost, runDir: string): Promise<void> {
    try {
      await host.conn.exec(cancelScript(runDir, (this.opts.killGraceMs ?? 2000) / 1000), { timeoutMs: this.lostAfterMs });
    } catch {
      host.orphans.add(runDir);
    }
  }

  /** Closes every connection; runs still going on the hosts are left to finish there. */
  close(): void {
    for (const h of this.hosts.values()) h.conn.close();
  }
}

/** Feeds a channel's output to the reader until the run ends, the channel closes, or the link drops. */
function pump(conn: HostConnection, channel: AgentProcess, reader: ProtocolReader): Promise<{ code?: number | null; status?: number; lost?: boolean }> {
  return new Promise((resolve) => {
    let stderr = '';
    let settled = false;
    const finish = (r: { code?: number | null; status?: number; lost?: boolean }) => {
      if (settled) return;
      settled = true;
      conn.off('down', onDown);
      resolve(r);
    };
    const onDown = () => finish({ lost: true });
    conn.once('down', onDown);
    channel.on('data', (d: Buffer) => {
      reader.push(d);
      if (reader.end) {
        finish({});
        channel.close();
      }
    });
    channel.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    channel.on('close', (code: number | null) => {
      const m = /RATCHET-STATUS (\d+)/.exec(stderr);
      finish({ code, status: m ? Number(m[1]) : undefined });
    });
  });
}
