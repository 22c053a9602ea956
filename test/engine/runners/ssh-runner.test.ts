// The SSH runner against a real OpenSSH server on loopback, running the real harness and python3.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SshRunner, type SshRunnerOptions } from '../../../src/engine/runners/ssh';
import type { RunRequest, RunResult } from '../../../src/engine/types';
import { clientKeys, commitOn, freePort, HARNESS_DIR, keygen, makeRepo, sleep, Sshd, sshConfig, sshdMissing, TcpProxy, tempDir, type ClientKeys } from './ssh-fixture';

const skip = sshdMissing();

/** A script that prints numbered lines over `seconds`, then its metric. */
const TICKER = `import os, sys, time
n = int(os.environ.get("TICKS", "10"))
for i in range(n):
    print("tick", i, flush=True)
    time.sleep(float(os.environ.get("TICK_SECONDS", "0.1")))
print("val_bpb: 1.25", flush=True)
`;

interface World {
  keys: ClientKeys;
  dir: string;
  knownHosts: string;
  repo: { dir: string; base: string };
  config(hosts: { alias: string; port: number; extra?: string[] }[]): string;
  runner(hosts: string[], config: string, opts?: Partial<SshRunnerOptions>): Promise<SshRunner>;
  request(runner: SshRunner, over?: Partial<RunRequest>): RunRequest;
}

async function world(t: TestContext, files: Record<string, string> = { 'train.py': TICKER }): Promise<World> {
  const keys = clientKeys(t);
  const dir = tempDir(t);
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, '');
  const repo = makeRepo(t, files);
  let n = 0;
  return {
    keys,
    dir,
    knownHosts,
    repo,
    config: (hosts) => sshConfig(dir, hosts.map((h) => ({ ...h, key: keys.key })), knownHosts),
    async runner(hosts, config, opts = {}) {
      const runner = new SshRunner({
        hosts,
        sshConfigFile: config,
        harnessDir: HARNESS_DIR,
        remoteRoot: path.join(dir, 'remote'),
        keepaliveIntervalMs: 300,
        keepaliveCountMax: 2,
        backoffMs: { first: 50, max: 300 },
        lostAfterMs: 20000,
        killGraceMs: 500,
        ...opts,
      });
      t.after(() => runner.close());
      await runner.start();
      return runner;
    },
    request(runner, over = {}) {
      return {
        experimentId: `e${++n}`,
        seed: 0,
        repoRoot: repo.dir,
        commit: repo.base,
        baseCommit: repo.base,
        cwd: '',
        command: 'python3 train.py',
        env: {},
        timeoutMs: 60000,
        protected: [],
        logPath: path.join(dir, 'logs', `run${n}.log`),
        slot: runner.slots()[0]!,
        signal: new AbortController().signal,
        ...over,
      };
    },
  };
}

/** Waits for a process to be gone (or a zombie nobody reaps: it holds nothing any more). */
async function gone(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    let state: string;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]!;
    } catch {
      return;
    }
    if (state === 'Z') return;
    assert.ok(Date.now() < deadline, `process ${pid} is still running (state ${state})`);
    await sleep(50);
  }
}

function ticks(r: RunResult): string[] {
  return r.outputTail.split('\n').filter((l) => l.startsWith('tick '));
}

function trust(w: World, sshd: Sshd, port = sshd.port): void {
  writeFileSync(w.knownHosts, `${readFileSync(w.knownHosts, 'utf8')}${sshd.knownHostsLine(port)}\n`);
}

test('runs through the harness on the host; the base goes once, then only each patch', { skip }, async (t) => {
  // Every name the run touches is hostile: the remote folder, the experiment id, the working
  // folder, the command and an environment value. None of it may be read by a shell.
  const hostile = `dir with space 'q' "dq" $(touch pwned) \`id\`; x\nnewline`;
  const w = await world(t, {
    [`${hostile}/train.py`]: 'import os\nprint("env:", os.environ["EVIL"])\nprint("seed:", os.environ["RATCHET_SEED"])\nprint("val_bpb: 1.5")\n',
  });
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]), { remoteRoot: path.join(w.dir, hostile) });
  assert.deepEqual(runner.hostStatus(), [{ target: 'h1', up: true, slots: 1 }]);

  const evil = `$(touch pwned2); rm -rf "$HOME" 'x' \n\`id\``;
  const base = await runner.run(w.request(runner, { experimentId: `e1'$(touch pwned3)`, cwd: hostile, env: { EVIL: evil }, command: 'python3 train.py; echo "after;"' }));
  assert.equal(base.exitCode, 0, base.outputTail + (base.spawnError ?? ''));
  assert.match(base.outputTail, /val_bpb: 1\.5/);
  assert.ok(base.outputTail.includes(`env: ${evil.split('\n')[0]}`), base.outputTail);
  assert.match(base.outputTail, /^after;$/m);
  assert.equal(base.host, 'h1:cpu');
  const setupAfterFirst = runner.setupBytes;
  assert.ok(setupAfterFirst > 0);

  const commit = commitOn(w.repo.dir, w.repo.base, { [`${hostile}/train.py`]: 'print("val_bpb: 1.25")\n' });
  const exp = await runner.run(w.request(runner, { commit, cwd: hostile }));
  assert.equal(exp.exitCode, 0, exp.outputTail + (exp.spawnError ?? ''));
  assert.match(exp.outputTail, /val_bpb: 1\.25/);
  assert.equal(runner.setupBytes, setupAfterFirst, 'the base snapshot is not sent again');
  assert.ok(exp.bytesSent! > 0 && exp.bytesSent! < 8192, `sent ${exp.bytesSent} bytes`);
  assert.match(readFileSync(w.request(runner).logPath.replace(/run\d+\.log$/, 'run2.log'), 'utf8'), /val_bpb: 1\.25/);
  for (const f of ['pwned', 'pwned2', 'pwned3']) {
    assert.ok(!existsSync(path.join(w.dir, f)) && !existsSync(path.join(process.env.HOME ?? '/root', f)), `${f} must not exist`);
  }
});

test('a run that changes a protected file is reported by the harness as a hack', { skip }, async (t) => {
  const w = await world(t, { 'train.py': 'open("prepare.py", "a").write("# edited\\n")\nprint("val_bpb: 0.1")\n', 'prepare.py': 'EVAL = 1\n' });
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]));
  const r = await runner.run(w.request(runner, { protected: ['prepare.py'] }));
  assert.equal(r.exitCode, 0);
  assert.deepEqual(
    r.audit.map((a) => [a.check, a.severity, a.file]),
    [['protected_access', 'hack', 'train.py'], ['protected-file-changed', 'hack', 'prepare.py']],
  );
});

test('an unknown host key is asked about once and recorded; declining refuses the host', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const config = w.config([{ alias: 'h1', port: sshd.port }]);
  const questions: string[] = [];
  const prompts = (answer: boolean) => ({
    hostKey: async (q: { host: string; port: number; fingerprint: string }) => {
      questions.push(`${q.host}:${q.port} ${q.fingerprint}`);
      return answer;
    },
    passphrase: async () => undefined,
    keyboardInteractive: async () => undefined,
  });
  await assert.rejects(w.runner(['h1'], config, { prompts: prompts(false) }), /not in known_hosts and was not accepted/);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), '');
  const runner = await w.runner(['h1'], config, { prompts: prompts(true) });
  assert.equal(questions.length, 2);
  assert.match(questions[1]!, /^127\.0\.0\.1:\d+ SHA256:/);
  assert.ok(readFileSync(w.knownHosts, 'utf8').includes(sshd.hostKeyPub.split(' ')[1]!));
  const r = await runner.run(w.request(runner, { env: { TICKS: '1' } }));
  assert.equal(r.exitCode, 0);
  runner.close();
  // Recorded: the next runner connects without asking.
  await w.runner(['h1'], config, { prompts: prompts(false) });
  assert.equal(questions.length, 2);
});

test('a changed host key refuses to connect and says what to check', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const other = keygen(path.join(w.dir, 'impostor'));
  writeFileSync(w.knownHosts, `[127.0.0.1]:${sshd.port} ${other}\n`);
  let asked = false;
  const prompts = { hostKey: async () => (asked = true), passphrase: async () => undefined, keyboardInteractive: async () => undefined };
  await assert.rejects(w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]), { prompts }), (e: Error & { hint?: string }) => {
    assert.match(e.message, /host key of \[127\.0\.0\.1\]:\d+ has CHANGED/);
    assert.match(e.hint ?? '', /ssh-keygen -R '\[127\.0\.0\.1\]:\d+'/);
    return true;
  });
  assert.equal(asked, false, 'a changed key is never offered for acceptance');
});

test('a connection cut mid-run is re-attached and the whole output collected once', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const proxy = await TcpProxy.start(t, sshd.port);
  trust(w, sshd, proxy.port);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: proxy.port }]));
  const running = runner.run(w.request(runner, { env: { TICKS: '20', TICK_SECONDS: '0.1' } }));
  await sleep(900);
  proxy.cut();
  await sleep(300);
  proxy.cut(); // and once more while it reconnects
  const r = await running;
  assert.equal(r.exitCode, 0, r.spawnError);
  assert.deepEqual(ticks(r), Array.from({ length: 20 }, (_, i) => `tick ${i}`));
  assert.match(r.outputTail, /val_bpb: 1\.25/);
});

test('sshd restarted mid-run: the run goes on and its result is collected', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]));
  const running = runner.run(w.request(runner, { env: { TICKS: '15', TICK_SECONDS: '0.1' } }));
  await sleep(700);
  await sshd.stop();
  await sleep(400);
  await sshd.restart();
  const r = await running;
  assert.equal(r.exitCode, 0, r.spawnError);
  assert.deepEqual(ticks(r), Array.from({ length: 15 }, (_, i) => `tick ${i}`));
});

test('a host that is down stays out of rotation; with no host up, start fails and says why', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const downPort = await freePort();
  const config = w.config([
    { alias: 'down', port: downPort },
    { alias: 'up', port: sshd.port },
  ]);
  await assert.rejects(w.runner(['down'], config), /no host could be reached \(down: .*ECONNREFUSED/);
  const runner = await w.runner(['down', 'up'], config);
  assert.deepEqual(
    runner.hostStatus().map((h) => [h.target, h.up]),
    [['down', false], ['up', true]],
  );
  const results = await Promise.all([0, 1].map(() => runner.run(w.request(runner, { env: { TICKS: '2' } }))));
  assert.deepEqual(results.map((r) => [r.exitCode, r.host]), [[0, 'up:cpu'], [0, 'up:cpu']]);
});

test('cancel stops the run\'s whole process group on the host', { skip }, async (t) => {
  const w = await world(t, {
    'train.py': `import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write("%d %d" % (os.getpid(), child.pid))
time.sleep(300)
`,
  });
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]));
  const pidFile = path.join(w.dir, "pids of 'run'");
  const abort = new AbortController();
  const running = runner.run(w.request(runner, { command: `python3 train.py '${pidFile.replace(/'/g, `'\\''`)}'`, signal: abort.signal }));
  const deadline = Date.now() + 20000;
  while (!existsSync(pidFile) || !readFileSync(pidFile, 'utf8').includes(' ')) {
    assert.ok(Date.now() < deadline, 'the run never started');
    await sleep(50);
  }
  const pids = readFileSync(pidFile, 'utf8').split(' ').map(Number);
  abort.abort();
  const r = await running;
  assert.equal(r.cancelled, true);
  for (const pid of pids) await gone(pid);
});

test('two hosts share one queue: every slot busy, no host over its limit', { skip }, async (t) => {
  const w = await world(t);
  const a = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const b = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, a);
  trust(w, b);
  const running = new Map<string, number>();
  const peak = new Map<string, number>();
  const runner = await w.runner(['a', 'b'], w.config([{ alias: 'a', port: a.port }, { alias: 'b', port: b.port }]), {
    maxRunsPerHost: 1,
    onRunEvent: (e) => {
      const host = e.host.split(':')[0]!;
      if (e.type === 'start') running.set(host, (running.get(host) ?? 0) + 1);
      if (e.type === 'end') running.set(host, (running.get(host) ?? 0) - 1);
      peak.set(host, Math.max(peak.get(host) ?? 0, running.get(host) ?? 0));
    },
  });
  assert.equal(runner.slots().length, 2);
  const results = await Promise.all([0, 1, 2, 3].map(() => runner.run(w.request(runner, { env: { TICKS: '5' } }))));
  assert.ok(results.every((r) => r.exitCode === 0));
  const hosts = results.map((r) => r.host);
  assert.equal(hosts.filter((h) => h === 'a:cpu').length, 2, hosts.join());
  assert.equal(hosts.filter((h) => h === 'b:cpu').length, 2, hosts.join());
  assert.deepEqual([peak.get('a'), peak.get('b')], [1, 1]);
});

test('a host unreachable past the limit loses its run, which is run again on another host', { skip }, async (t) => {
  const w = await world(t);
  const a = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const b = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const proxy = await TcpProxy.start(t, a.port);
  trust(w, a, proxy.port);
  trust(w, b);
  const runner = await w.runner(['a', 'b'], w.config([{ alias: 'a', port: proxy.port }, { alias: 'b', port: b.port }]), {
    maxRunsPerHost: 1,
    lostAfterMs: 1500,
  });
  const first = runner.run(w.request(runner, { env: { TICKS: '30', TICK_SECONDS: '0.1' } }));
  await sleep(800);
  await proxy.close(); // host a vanishes: refused connections from now on
  const r = await first;
  assert.equal(r.exitCode, 0, r.spawnError);
  assert.equal(r.host, 'b:cpu');
  assert.deepEqual(ticks(r), Array.from({ length: 30 }, (_, i) => `tick ${i}`), 'only the complete second attempt is parsed');
  assert.deepEqual(runner.hostStatus().map((h) => [h.target, h.up]), [['a', false], ['b', true]]);
});

test('GPUs found by the probe become slots and each run is pinned to its GPU', { skip }, async (t) => {
  const w = await world(t, { 'train.py': 'import os\nprint("gpu:", os.environ.get("CUDA_VISIBLE_DEVICES"))\nprint("val_bpb: 1")\n' });
  const bin = path.join(w.dir, 'fake-bin');
  mkdirSync(bin);
  // Two GPUs, in the CSV shape `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints.
  writeFileSync(
    path.join(bin, 'nvidia-smi'),
    `#!/bin/sh
case "$*" in
  *--query-gpu*) echo "0, NVIDIA H100 80GB HBM3, GPU-a, 81559, 1980, 1980, 2619, 2619, 550.54, 00000000:18:00.0"
                 echo "1, NVIDIA H100 80GB HBM3, GPU-b, 81559, 1980, 1980, 2619, 2619, 550.54, 00000000:2A:00.0" ;;
  -L) echo "GPU 0: NVIDIA H100 (UUID: GPU-a)"; echo "GPU 1: NVIDIA H100 (UUID: GPU-b)" ;;
  *) echo "CUDA Version: 12.4" ;;
esac
`,
  );
  chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys, setEnv: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` } });
  trust(w, sshd);
  const runner = await w.runner(['gpu'], w.config([{ alias: 'gpu', port: sshd.port }]));
  assert.equal(runner.slots().length, 2);
  const results = await Promise.all([0, 1].map(() => runner.run(w.request(runner))));
  assert.deepEqual(results.map((r) => r.host).sort(), ['gpu:gpu0', 'gpu:gpu1']);
  for (const r of results) assert.ok(r.outputTail.includes(`gpu: ${r.host!.slice(-1)}`), r.outputTail);
});

test('a host behind a jump host (ProxyJump) is reached through it', { skip }, async (t) => {
  const w = await world(t);
  const jump = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  const inner = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, jump);
  trust(w, inner);
  const config = w.config([
    { alias: 'bastion', port: jump.port },
    { alias: 'inner', port: inner.port, extra: ['ProxyJump bastion'] },
  ]);
  const runner = await w.runner(['inner'], config);
  const r = await runner.run(w.request(runner, { env: { TICKS: '1' } }));
  assert.equal(r.exitCode, 0, r.spawnError);
  assert.equal(r.host, 'inner:cpu');
});

test('an encrypted key asks for its passphrase once', { skip }, async (t) => {
  const w = await world(t);
  const key = path.join(w.dir, 'locked_key');
  const pub = keygen(key, { passphrase: 'open sesame' });
  const authorized = path.join(w.dir, 'authorized_locked');
  writeFileSync(authorized, `${pub}\n`);
  const sshd = await Sshd.start(t, { authorizedKeys: authorized });
  trust(w, sshd);
  const config = sshConfig(w.dir, [{ alias: 'locked', port: sshd.port, key }], w.knownHosts);
  const asked: string[] = [];
  const runner = await w.runner(['locked'], config, {
    prompts: { hostKey: async () => false, passphrase: async (file) => (asked.push(file), 'open sesame'), keyboardInteractive: async () => undefined },
  });
  runner.connectionOf('locked')!.dropForTest();
  const r = await runner.run(w.request(runner, { env: { TICKS: '1' } }));
  assert.equal(r.exitCode, 0, r.spawnError);
  assert.deepEqual(asked, [key], 'asked once, even after a reconnect');
});

test('a run over its budget is stopped on the host and reported as a timeout', { skip }, async (t) => {
  const w = await world(t);
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]));
  const r = await runner.run(w.request(runner, { timeoutMs: 1500, env: { TICKS: '100', TICK_SECONDS: '0.1' } }));
  assert.equal(r.timedOut, true);
  assert.equal(r.cancelled, false);
  assert.ok(ticks(r).length > 3 && ticks(r).length < 40, `${ticks(r).length} ticks`);
});

/** The host's interpreter for kernel runs: one that imports torch (CI: Debian's /usr/bin/python3). */
const torchPython = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);

test('a kernel run on the host: the harness checks and times the candidate in the run folder, and guards the task files', { skip: skip ?? (torchPython ? false : 'no python3 here imports torch') }, async (t) => {
  const kernel = (body: string) => `import torch.nn as nn\n\n\nclass ModelNew(nn.Module):\n    def forward(self, x):\n        ${body}\n`;
  const w = await world(t, {
    'k/task.json': JSON.stringify({ name: 'row_sum', reference: 'reference.py', dtype: 'float32', shapes: [{ name: '32x256', params: { rows: 32, cols: 256 } }], roofline: { flops: 'rows*cols', bytes: '4*rows*cols' } }),
    'k/reference.py': readFileSync(path.join(HARNESS_DIR, '..', 'kernels/row_sum/reference.py'), 'utf8'),
    'k/naive.py': kernel('return x.sum(dim=-1)'),
  });
  const sshd = await Sshd.start(t, { authorizedKeys: w.keys.authorizedKeys });
  trust(w, sshd);
  const runner = await w.runner(['h1'], w.config([{ alias: 'h1', port: sshd.port }]), { python: torchPython });
  const spec = { task: 'k', candidate: 'k/naive.py', device: 'cpu' as const };
  const ok = await runner.run(w.request(runner, { kernel: spec, command: '', protected: ['k/task.json', 'k/reference.py'] }));
  assert.equal(ok.exitCode, 0, ok.outputTail + (ok.spawnError ?? ''));
  assert.equal(ok.metrics!.correct, 1);
  assert.ok(ok.metrics!.speedup! > 0 && ok.metrics!['time_ms/32x256']! > 0, JSON.stringify(ok.metrics));
  assert.deepEqual(ok.audit.filter((a) => a.severity === 'hack'), []);

  // The candidate rewrites the reference while it is checked: the task's files are guarded on the host too.
  const sneaky = commitOn(w.repo.dir, w.repo.base, { 'k/naive.py': `import os\nopen(os.path.join(os.path.dirname(__file__), 'reference.py'), 'a').write('# mine\\n')\n${kernel('return x.sum(dim=-1)')}` });
  const bad = await runner.run(w.request(runner, { commit: sneaky, kernel: spec, command: '', protected: ['k/task.json', 'k/reference.py'] }));
  assert.deepEqual(bad.audit.filter((a) => a.severity === 'hack').map((a) => [a.check, a.file]), [['protected-file-changed', 'k/reference.py']]);
});
