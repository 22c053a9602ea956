// Dispatch overhead of the SSH runner against the naive way (a fresh `ssh` and `scp -r` of the
// repository for every run), on one loopback sshd in one process. Overhead is the time a run
// spends outside the harness: experiment ready → harness started, plus harness ended → result
// recorded (the harness's own start and end events, on the same clock). Bytes are what the
// client sent to the server, counted by a relay in front of sshd (SSH framing included).
//
//   node --import tsx bench/ssh-dispatch.ts [--runs N] [--naive-runs N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SshRunner, shellCommand, type RunEvent } from '../src/engine/runners/ssh';
import { clientKeys, git, HARNESS_DIR, Sshd, sshConfig, TcpProxy, type Cleanup } from '../test/engine/runners/ssh-fixture';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, 'naive-runs': { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const NAIVE_RUNS = Number(values['naive-runs']);

const cleanups: (() => unknown)[] = [];
const cleanup: Cleanup = { after: (fn) => void cleanups.push(fn) };
const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};

const TRAIN = (lr: number) => `LR = ${lr}\nprint("val_bpb: %.4f" % (1 + LR))\n`;

/** A repository of realistic size: a script, ~24 MB of data files, and history that rewrote them. */
function makeBigRepo(dir: string): { base: string; size: number; treeSize: number } {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q');
  writeFileSync(path.join(dir, 'train.py'), TRAIN(0.5));
  mkdirSync(path.join(dir, 'data'));
  const shards = 48;
  for (let i = 0; i < shards; i++) writeFileSync(path.join(dir, 'data', `shard${i}.bin`), randomBytes(512 * 1024));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'data and script');
  for (let c = 0; c < 6; c++) {
    for (let i = c * 8; i < c * 8 + 8; i++) writeFileSync(path.join(dir, 'data', `shard${i}.bin`), randomBytes(512 * 1024));
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', `regenerate shards ${c * 8}-${c * 8 + 7}`);
  }
  const du = (p: string) => Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]);
  return { base: git(dir, 'rev-parse', 'HEAD'), size: du(dir), treeSize: du(dir) - du(path.join(dir, '.git')) };
}

function experimentCommit(dir: string, base: string, i: number): string {
  git(dir, 'checkout', '-q', '--detach', base);
  writeFileSync(path.join(dir, 'train.py'), TRAIN(0.5 - (i + 1) * 0.001));
  git(dir, 'commit', '-qam', `experiment ${i}`);
  return git(dir, 'rev-parse', 'HEAD');
}

interface Sample {
  overheadMs: number;
  beforeMs: number;
  afterMs: number;
  bytes: number;
}

function stats(xs: number[]): { median: number; p90: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]!;
  return { median: q(0.5), p90: q(0.9), min: s[0]!, max: s[s.length - 1]! };
}

function row(name: string, samples: Sample[]): string {
  const o = stats(samples.map((x) => x.overheadMs));
  const b = stats(samples.map((x) => x.beforeMs));
  const a = stats(samples.map((x) => x.afterMs));
  const bytes = stats(samples.map((x) => x.bytes));
  return `${name.padEnd(22)} ${String(samples.length).padStart(4)}  ${o.median.toFixed(1).padStart(8)} ${o.p90.toFixed(1).padStart(8)}  ${b.median.toFixed(1).padStart(8)} ${a.median.toFixed(1).padStart(8)}  ${fmtBytes(bytes.median).padStart(10)}`;
}

function fmtBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

async function main(): Promise<void> {
  const work = path.join(os.tmpdir(), `ratchet-bench-ssh-${process.pid}`);
  mkdirSync(work, { recursive: true });
  cleanup.after(() => rmSync(work, { recursive: true, force: true }));
  const keys = clientKeys({ after: cleanup.after });
  const sshd = await Sshd.start(cleanup, { authorizedKeys: keys.authorizedKeys });
  const proxy = await TcpProxy.start(cleanup, sshd.port);
  const knownHosts = path.join(work, 'known_hosts');
  writeFileSync(knownHosts, `${sshd.knownHostsLine(proxy.port)}\n`);
  const config = sshConfig(work, [{ alias: 'bench', port: proxy.port, key: keys.key, extra: ['ControlMaster no', 'BatchMode yes'] }], knownHosts);

  const repoDir = path.join(work, 'repo');
  const repo = makeBigRepo(repoDir);
  const commits = Array.from({ length: Math.max(RUNS, NAIVE_RUNS) + 1 }, (_, i) => experimentCommit(repoDir, repo.base, i));
  git(repoDir, 'checkout', '-q', '--detach', repo.base);
  say(`SSH dispatch benchmark — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}, ${spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim()}`);
  say(`repo: ${fmtBytes(repo.size)} with history (${fmtBytes(repo.treeSize)} working tree, 7 commits); each experiment changes one line of train.py`);
  say('one loopback sshd; overhead = (ready → harness start event) + (harness end event → result recorded)');
  say('');

  // --- Ratchet's runner -------------------------------------------------------------------
  const events = new Map<string, RunEvent[]>();
  const runner = new SshRunner({
    hosts: ['bench'],
    sshConfigFile: config,
    harnessDir: HARNESS_DIR,
    remoteRoot: path.join(work, 'remote'),
    onRunEvent: (e) => events.set(`${e.experimentId}/${e.seed}`, [...(events.get(`${e.experimentId}/${e.seed}`) ?? []), e]),
  });
  cleanup.after(() => runner.close());
  let t0 = Date.now();
  let up0 = proxy.bytesUp;
  await runner.start();
  say(`runner start (connect, install harness, probe): ${Date.now() - t0} ms, ${fmtBytes(proxy.bytesUp - up0)} sent — once per engine`);
  const request = (id: string, commit: string) => ({
    experimentId: id,
    seed: 0,
    repoRoot: repoDir,
    commit,
    baseCommit: repo.base,
    cwd: '',
    command: 'python3 train.py',
    env: {},
    timeoutMs: 60000,
    protected: [],
    logPath: path.join(work, 'logs', `${id}.log`),
    slot: runner.slots()[0]!,
    signal: new AbortController().signal,
  });
  t0 = Date.now();
  up0 = proxy.bytesUp;
  const first = await runner.run(request('baseline', repo.base));
  if (first.exitCode !== 0) throw new Error(`baseline failed: ${first.spawnError ?? first.outputTail}`);
  say(`first run, with the base snapshot upload: ${Date.now() - t0} ms, ${fmtBytes(proxy.bytesUp - up0)} sent — once per search and host`);
  const ours: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const id = `e${i + 1}`;
    up0 = proxy.bytesUp;
    const ready = Date.now();
    const r = await runner.run(request(id, commits[i]!));
    const recorded = Date.now();
    if (r.exitCode !== 0 || !/val_bpb/.test(r.outputTail)) throw new Error(`run ${id} failed: ${r.spawnError ?? r.outputTail}`);
    const ev = events.get(`${id}/0`) ?? [];
    const start = ev.find((e) => e.type === 'start')!.time * 1000;
    const end = ev.find((e) => e.type === 'end')!.time * 1000;
    ours.push({ beforeMs: start - ready, afterMs: recorded - end, overheadMs: start - ready + (recorded - end), bytes: proxy.bytesUp - up0 });
  }
  runner.close();

  // --- Naive: fresh ssh + scp -r of the repository per run --------------------------------
  const naive: Sample[] = [];
  const naiveRoot = path.join(work, 'naive');
  mkdirSync(naiveRoot);
  const harnessRemote = path.join(work, 'remote', 'harness', readdirOne(path.join(work, 'remote', 'harness')));
  for (let i = 0; i < NAIVE_RUNS; i++) {
    const dest = path.join(naiveRoot, `run${i}`);
    up0 = proxy.bytesUp;
    const ready = Date.now();
    // Asynchronously: the relay counting the bytes lives in this process.
    await runProgram('scp', ['-q', '-r', '-F', config, repoDir, `bench:${dest}`]);
    const remote = [
      `cd ${shellCommand([dest])}`,
      `git -c advice.detachedHead=false checkout -q ${commits[i]}`,
      `PYTHONPATH=${shellCommand([harnessRemote])} ${shellCommand(['python3', '-m', 'ratchet_harness', 'train', `--experiment-id=n${i}`, '--budget-seconds=60', '--cwd=.', '--', 'python3 train.py'])}`,
    ].join(' && ');
    const out = await runProgram('ssh', ['-F', config, 'bench', remote]);
    const recorded = Date.now();
    const evs = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; time: number });
    const start = evs.find((e) => e.type === 'start')!.time * 1000;
    const end = evs.find((e) => e.type === 'end')!.time * 1000;
    naive.push({ beforeMs: start - ready, afterMs: recorded - end, overheadMs: start - ready + (recorded - end), bytes: proxy.bytesUp - up0 });
    rmSync(dest, { recursive: true, force: true });
  }

  say('');
  say(`${'per experiment'.padEnd(22)} ${'runs'.padStart(4)}  ${'overhead'.padStart(8)} ${'p90'.padStart(8)}  ${'→start'.padStart(8)} ${'end→'.padStart(8)}  ${'bytes sent'.padStart(10)}`);
  say(`${''.padEnd(22)} ${''.padStart(4)}  ${'med. ms'.padStart(8)} ${'ms'.padStart(8)}  ${'med. ms'.padStart(8)} ${'med. ms'.padStart(8)}  ${'median'.padStart(10)}`);
  say(row('ratchet ssh runner', ours));
  if (naive.length === 0) return;
  say(row('naive ssh + scp -r', naive));
  const oursMed = stats(ours.map((s) => s.overheadMs)).median;
  const naiveMed = stats(naive.map((s) => s.overheadMs)).median;
  const bytesRatio = stats(naive.map((s) => s.bytes)).median / stats(ours.map((s) => s.bytes)).median;
  say('');
  say(`overhead: ${(naiveMed / oursMed).toFixed(1)}× less than naive (goal ≥ 10×); median ${oursMed.toFixed(1)} ms (goal < 100 ms)`);
  say(`bytes sent per experiment: ${bytesRatio.toFixed(0)}× less than naive`);
  const out = path.join(__dirname, 'results', 'ssh-dispatch.txt');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${lines.join('\n')}\n`);
}

function runProgram(file: string, args: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`${file} exited with ${code}`))));
  });
}

function readdirOne(dir: string): string {
  return readdirSync(dir).find((n) => !n.includes('.tmp'))!;
}

// Interrupted, it still stops its sshd and removes its files.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, async () => {
    for (const fn of cleanups.reverse()) await fn();
    process.exit(130);
  });
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
