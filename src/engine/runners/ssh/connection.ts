// One SSH connection per host, shared by every run on it (each command is a channel of the same
// connection). Keepalives notice a dead link; a lost connection is re-opened in the background
// with growing delays until the runner closes it, and callers simply wait for it to be ready.
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { Client, type ClientChannel, type ServerHostKeyAlgorithm } from 'ssh2';
import { RatchetError } from '../../errors';
import { Agent, AGENT_SOURCE, type AgentProcess } from './agent';
import { authMethods, type KeyStore, type SshPrompts } from './auth';
import type { HostConfig } from './config';
import { HostKeyRejected, type KnownHosts } from './known-hosts';
import { shellQuote } from './quote';

export interface ConnectionOptions {
  knownHosts: KnownHosts;
  keys: KeyStore;
  prompts: SshPrompts;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
  /** First and largest delay between reconnect attempts. */
  backoffMs?: { first: number; max: number };
  /** Most channels open at once; OpenSSH's MaxSessions is 10 by default. */
  maxChannels?: number;
  /** The host's Python (runs the command server and the harness); default python3. */
  python?: string;
  /** Opens the byte stream to the host through a jump host (ProxyJump); none: direct TCP. */
  openSocket?: () => Promise<Readable>;
}

export class HostUnreachable extends Error {
  constructor(readonly target: string, readonly reason: string) {
    super(`${target} is unreachable: ${reason}`);
    this.name = 'HostUnreachable';
  }
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: Buffer;
  stderr: string;
}

type State = 'idle' | 'connecting' | 'up' | 'down' | 'failed' | 'closed';

/** Emits 'up' and 'down'. */
export class HostConnection extends EventEmitter {
  private state: State = 'idle';
  private client: Client | undefined;
  private agent: Agent | undefined;
  private attempt: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delay: number;
  private lastError = 'not connected yet';
  private fatal: Error | undefined;
  private channels = 0;
  private readonly channelWaiters: (() => void)[] = [];
  /** When the connection was last lost (ms since the epoch); undefined while up. */
  downSince: number | undefined;

  constructor(readonly config: HostConfig, private readonly opts: ConnectionOptions) {
    super();
    this.delay = opts.backoffMs?.first ?? 250;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  get lastFailure(): string {
    return this.fatal?.message ?? this.lastError;
  }

  /** Connects once; the error of a first failed attempt is thrown (reconnects continue behind it). */
  async connect(): Promise<void> {
    if (this.state === 'up') return;
    if (this.fatal) throw this.fatal;
    this.attempt ??= this.open().finally(() => (this.attempt = undefined));
    await this.attempt;
  }

  /** A ready client, waiting for a reconnect up to `timeoutMs`. */
  async ready(timeoutMs: number, signal?: AbortSignal): Promise<Client> {
    if (this.state === 'up' && this.client) return this.client;
    if (this.fatal) throw this.fatal;
    if (this.state === 'idle') await this.connect().catch(() => undefined);
    if (this.state === 'up' && this.client) return this.client;
    if (this.fatal) throw this.fatal;
    this.scheduleReconnect();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('up', done);
        this.off('failed', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('up', done);
      this.on('failed', done);
      signal?.addEventListener('abort', done, { once: true });
    });
    if (this.fatal) throw this.fatal;
    if (this.state === 'up' && this.client) return this.client;
    throw new HostUnreachable(this.config.target, this.lastError);
  }

  private open(): Promise<void> {
    this.state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      const cfg = this.config;
      const client = new Client();
      let rejection: Error | undefined;
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        client.destroy();
        if (rejection || e instanceof RatchetError) {
          this.fatal = rejection ? new RatchetError(rejection.message, (rejection as HostKeyRejected).hint, 'HOST_KEY') : e;
          this.state = 'failed';
          this.emit('failed');
          reject(this.fatal);
          return;
        }
        if (/authentication methods failed/i.test(e.message)) {
          this.fatal = new RatchetError(
            `${cfg.target}: no key was accepted for ${cfg.user}@${cfg.hostname}`,
            `check that \`ssh ${cfg.target}\` logs in without a password: load your key into ssh-agent or name it with IdentityFile in ~/.ssh/config`,
            'SSH_AUTH',
          );
          this.state = 'failed';
          this.emit('failed');
          reject(this.fatal);
          return;
        }
        this.lastError = e.message;
        this.markDown();
        reject(new HostUnreachable(cfg.target, e.message));
      };
      client.on('ready', () => {
        client.setNoDelay(true);
        this.startAgent(client).then(
          (agent) => {
            if (settled) return;
            settled = true;
            this.client = client;
            this.agent = agent;
            // A command server that dies takes the connection with it: reconnecting restarts both.
            agent.on('close', () => client.destroy());
            this.state = 'up';
            this.downSince = undefined;
            this.delay = this.opts.backoffMs?.first ?? 250;
            this.emit('up');
            resolve();
          },
          (e: Error) => fail(new RatchetError(`${cfg.target}: ${e.message}`, `check that \`ssh ${cfg.target} ${this.opts.python ?? 'python3'} --version\` works; name another interpreter with the runner's python setting`, 'SSH_PYTHON')),
        );
      });
      client.on('error', (e) => fail(e));
      client.on('close', () => {
        if (!settled) {
          fail(new Error('connection closed during the handshake'));
          return;
        }
        if (this.client === client) {
          this.client = undefined;
          this.agent = undefined;
          this.lastError = 'connection lost';
          if (this.state === 'up') this.markDown();
        }
      });
      const names = [cfg.hostKeyAlias ?? cfg.hostname];
      const knownTypes = this.opts.knownHosts.knownKeyTypes(names, cfg.port);
      (async () => {
        const sock = this.opts.openSocket ? await this.opts.openSocket() : undefined;
        client.connect({
          host: cfg.hostname,
          port: cfg.port,
          sock,
          username: cfg.user,
          keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5000,
          keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
          readyTimeout: this.opts.readyTimeoutMs ?? cfg.connectTimeoutMs ?? 20000,
          authHandler: await authMethods(cfg, this.opts.keys, this.opts.prompts),
          // Offer the key types already on record first, as OpenSSH does, so a host with several
          // keys is checked against the one the user accepted.
          algorithms: knownTypes.length > 0 ? { serverHostKey: preferTypes(knownTypes) } : undefined,
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            this.opts.knownHosts.verify(names, cfg.port, key).then(
              () => verify(true),
              (e: Error) => {
                rejection = e;
                verify(false);
              },
            );
          },
        });
      })().catch((e: Error) => fail(e));
    });
  }

  private markDown(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.downSince ??= Date.now();
    if (wasUp) this.emit('down');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    // An attempt in flight is no reason to skip: it may be the one failing right now.
    if (this.retryTimer || this.state === 'up' || this.state === 'closed' || this.state === 'failed') return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.backoffMs?.max ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().catch(() => undefined);
    }, wait);
    this.retryTimer.unref();
  }

  /** Opens a channel running `command`, counting it against the channel limit until it closes. */
  async channel(command: string, timeoutMs: number, signal?: AbortSignal): Promise<ClientChannel> {
    const client = await this.ready(timeoutMs, signal);
    await this.takeChannel();
    return new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (err, stream) => {
        if (err) {
          this.releaseChannel();
          reject(this.isUp ? err : new HostUnreachable(this.config.target, err.message));
          return;
        }
        let released = false;
        const release = () => {
          if (!released) {
            released = true;
            this.releaseChannel();
          }
        };
        stream.on('close', release);
        // A channel of a dead connection never closes by itself.
        this.once('down', release);
        stream.on('close', () => this.off('down', release));
        resolve(stream);
      });
    });
  }

  private startAgent(client: Client): Promise<Agent> {
    return new Promise<Agent>((resolve, reject) => {
      const command = `exec ${shellQuote(this.opts.python ?? 'python3')} -u -c ${shellQuote(AGENT_SOURCE)}`;
      client.exec(command, (err, channel) => {
        if (err) {
          reject(err);
          return;
        }
        const agent = new Agent(channel);
        agent.ready.then(() => resolve(agent), reject);
      });
    });
  }

  /** The host's Python as an absolute path (from the command server); empty before the first connect. */
  get python(): string {
    return this.agent?.python ?? '';
  }

  /** Runs a script through the command server, streaming its output. */
  async stream(script: string, timeoutMs: number, signal?: AbortSignal): Promise<AgentProcess> {
    await this.ready(timeoutMs, signal);
    if (!this.agent?.isOpen) throw new HostUnreachable(this.config.target, 'connection lost');
    return this.agent.stream(script);
  }

  /** Prepares a run folder and starts the harness there, detached (see Agent.startHarness). */
  async startHarness(spec: Parameters<Agent['startHarness']>[0], patch: Buffer, signal?: AbortSignal): Promise<ExecResult> {
    await this.ready(30000, signal);
    const agent = this.agent;
    if (!agent?.isOpen) throw new HostUnreachable(this.config.target, 'connection lost');
    try {
      return await agent.startHarness(spec, patch);
    } catch (e) {
      throw new HostUnreachable(this.config.target, (e as Error).message);
    }
  }

  /** Runs a command to completion, feeding `input` to its stdin. */
  async exec(command: string, opts: { input?: Buffer | string | Readable; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const input = opts.input;
    if (input === undefined || typeof input === 'string' || Buffer.isBuffer(input)) {
      await this.ready(opts.timeoutMs ?? 30000, opts.signal);
      const agent = this.agent;
      if (!agent?.isOpen) throw new HostUnreachable(this.config.target, 'connection lost');
      try {
        return await agent.exec(command, input === undefined ? undefined : Buffer.from(input));
      } catch (e) {
        throw new HostUnreachable(this.config.target, (e as Error).message);
      }
    }
    // A stream (an upload) goes over a channel of its own rather than through the server's memory.
    const stream = await this.channel(`exec /bin/sh -c ${shellQuote(command)}`, opts.timeoutMs ?? 30000, opts.signal);
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      const onDown = () => reject(new HostUnreachable(this.config.target, 'connection lost during a command'));
      this.once('down', onDown);
      stream.on('close', (code: number | null, signal?: string) => {
        this.off('down', onDown);
        resolve({ code: code ?? null, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
      });
      input.pipe(stream);
    });
  }

  private takeChannel(): Promise<void> {
    if (this.channels < (this.opts.maxChannels ?? 10)) {
      this.channels++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.channelWaiters.push(() => resolve()));
  }

  private releaseChannel(): void {
    const next = this.channelWaiters.shift();
    if (next) next();
    else this.channels--;
  }

  /** Drops the transport as if the network had failed (reconnects follow); for tests. */
  dropForTest(): void {
    this.client?.destroy();
  }

  close(): void {
    this.state = 'closed';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.agent?.close();
    this.client?.end();
    this.client = undefined;
    this.agent = undefined;
  }
}

const DEFAULT_HOST_KEY_ORDER: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

function preferTypes(known: string[]): ServerHostKeyAlgorithm[] {
  // A known ssh-rsa key is checked through the SHA-2 signature algorithms that carry it.
  const wanted = new Set(known.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])));
  return [...DEFAULT_HOST_KEY_ORDER.filter((t) => wanted.has(t)), ...DEFAULT_HOST_KEY_ORDER.filter((t) => !wanted.has(t))];
}
