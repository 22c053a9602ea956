// A real OpenSSH server for the SSH runner's tests: its own host key, config and authorized key in
// a temporary folder, listening on a loopback port as the current user. A TCP proxy in front of it
// lets a test cut connections or make the host vanish. Everything is stopped and removed when the
// test ends, pass or fail.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
/** Where cleanups go: a test's context, or the benchmark's own list. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

export const SSHD = '/usr/sbin/sshd';
export const REPO = path.resolve(__dirname, '..', '..', '..');
export const HARNESS_DIR = path.join(REPO, 'remote-runner');

/** Why the integration tests cannot run here, or undefined when they can. */
export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return 'OpenSSH server not installed (apt-get install openssh-server)';
  if (!existsSync(path.join(HARNESS_DIR, 'ratchet_harness', '__main__.py'))) return 'remote-runner/ratchet_harness not in this checkout';
  return undefined;
}

export function tempDir(t: Cleanup, prefix = 'ratchet-ssh-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  // Processes on the "host" (the harness writing its bytecode cache, a spare copy being made) may
  // still be finishing as the test ends: retry, and never let cleaning up fail the test.
  t.after(() => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // left for the system's temp cleaner
    }
  });
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function keygen(file: string, opts: { type?: string; passphrase?: string; comment?: string } = {}): string {
  execFileSync('ssh-keygen', ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'ratchet-test', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

export interface ClientKeys {
  dir: string;
  key: string;
  authorizedKeys: string;
}

/** A client key pair and an authorized_keys file that admits it. */
export function clientKeys(t: Cleanup): ClientKeys {
  const dir = tempDir(t, 'ratchet-ssh-client-');
  const key = path.join(dir, 'id_ed25519');
  const pub = keygen(key);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `${pub}\n`);
  return { dir, key, authorizedKeys };
}

export interface SshdOptions {
  authorizedKeys: string;
  /** Environment of sessions (sshd's SetEnv), e.g. a PATH with a fake nvidia-smi. */
  setEnv?: Record<string, string>;
  port?: number;
}

export class Sshd {
  private proc: ChildProcess | undefined;
  private stderr = '';
  readonly hostKeyPub: string;

  private constructor(readonly dir: string, readonly port: number, private readonly config: string) {
    this.hostKeyPub = readFileSync(path.join(dir, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  }

  static async start(t: Cleanup, opts: SshdOptions): Promise<Sshd> {
    const dir = tempDir(t, 'ratchet-sshd-');
    keygen(path.join(dir, 'host_key'), { comment: 'host' });
    const port = opts.port ?? (await freePort());
    const config = path.join(dir, 'sshd_config');
    const lines = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${opts.authorizedKeys}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'LogLevel ERROR',
      // Debian's default: scp uses the SFTP protocol since OpenSSH 9.0.
      'Subsystem sftp /usr/lib/openssh/sftp-server',
    ];
    if (opts.setEnv) lines.push(`SetEnv ${Object.entries(opts.setEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    writeFileSync(config, `${lines.join('\n')}\n`);
    // Debian's sshd refuses to start without its privilege separation folder.
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const sshd = new Sshd(dir, port, config);
    await sshd.launch();
    t.after(() => sshd.stop());
    return sshd;
  }

  private async launch(): Promise<void> {
    this.stderr = '';
    const proc = spawn(SSHD, ['-D', '-e', '-f', this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d) => (this.stderr += d));
    this.proc = proc;
    const deadline = Date.now() + 10000;
    while (!(await canConnect(this.port))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start: ${this.stderr}`);
      await sleep(20);
    }
  }

  /** Kills the per-connection server processes: every client connection drops at once. */
  killConnections(): void {
    if (!this.proc?.pid) return;
    for (const pid of childrenOf(this.proc.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Stops the server and every connection it serves; runs detached from them keep going. */
  async stop(): Promise<void> {
    this.killConnections();
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** A known_hosts line for this server as reached on `port` (its own by default). */
  knownHostsLine(port = this.port): string {
    return `[127.0.0.1]:${port} ${this.hostKeyPub}`;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP relay to a server that a test can cut (drop every connection) or take away entirely. */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Bytes relayed from clients to the server, for measuring what a client sends. */
  bytesUp = 0;

  private constructor(readonly port: number, private readonly target: number) {}

  static async start(t: Cleanup, target: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.resume();
    t.after(() => proxy.close());
    return proxy;
  }

  resume(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((inbound) => {
        const outbound = net.connect(this.target, '127.0.0.1');
        this.sockets.add(inbound).add(outbound);
        inbound.on('data', (d: Buffer) => (this.bytesUp += d.length));
        inbound.pipe(outbound).pipe(inbound);
        const drop = () => {
          inbound.destroy();
          outbound.destroy();
          this.sockets.delete(inbound);
          this.sockets.delete(outbound);
        };
        inbound.on('error', drop).on('close', drop);
        outbound.on('error', drop).on('close', drop);
      });
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
      this.server = server;
    });
  }

  /** Drops every relayed connection, as a network failure would. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Drops the connections and stops accepting new ones: the host is gone. */
  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((r) => server.close(r));
  }
}

/** An ssh config file naming each host; known_hosts is the test's own file. */
export function sshConfig(dir: string, hosts: { alias: string; port: number; key: string; extra?: string[] }[], knownHosts: string): string {
  const file = path.join(dir, 'ssh_config');
  const blocks = hosts.map((h) =>
    [
      `Host ${h.alias}`,
      '  HostName 127.0.0.1',
      `  Port ${h.port}`,
      `  User ${os.userInfo().username}`,
      `  IdentityFile ${h.key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      ...(h.extra ?? []).map((l) => `  ${l}`),
    ].join('\n'),
  );
  writeFileSync(file, `${blocks.join('\n\n')}\n`);
  return file;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** A repository with `files` committed as the base; returns the folder and the base commit. */
export function makeRepo(t: Cleanup, files: Record<string, string>): { dir: string; base: string } {
  const dir = tempDir(t, 'ratchet-ssh-repo-');
  writeAll(dir, files);
  git(dir, 'init', '-q');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'base');
  return { dir, base: git(dir, 'rev-parse', 'HEAD') };
}

export function writeAll(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

/** Commits changes on top of `parent` without moving any branch; returns the commit. */
export function commitOn(dir: string, parent: string, files: Record<string, string>): string {
  git(dir, 'checkout', '-q', '--detach', parent);
  writeAll(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'experiment');
  return git(dir, 'rev-parse', 'HEAD');
}

/**
 * A real sshd known as `alias` through its own ssh config, a repo whose train.py prints
 * `val_bpb: 1 + LR`, and a patches folder with one patch that lowers LR: a search's worth.
 */
export async function hostAndReplayRepo(t: Cleanup, alias: string): Promise<{ config: string; repo: { dir: string; base: string }; patches: string }> {
  const keys = clientKeys(t);
  const sshd = await Sshd.start(t, { authorizedKeys: keys.authorizedKeys });
  const dir = tempDir(t);
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  const config = sshConfig(dir, [{ alias, port: sshd.port, key: keys.key }], knownHosts);
  const repo = makeRepo(t, { 'train.py': 'LR = 0.5\nprint(f"val_bpb: {1 + LR:.4f}")\n' });
  const patches = path.join(dir, 'patches');
  mkdirSync(patches);
  writeFileSync(
    path.join(patches, '01-lower-lr.patch'),
    'lower the learning rate\n--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n-LR = 0.5\n+LR = 0.1\n print(f"val_bpb: {1 + LR:.4f}")\n',
  );
  return { config, repo, patches };
}
