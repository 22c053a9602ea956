// A small command server started once per connection, so each remote command costs a fork on the
// host instead of a new SSH session and login shell (a login shell that runs conda or pyenv set-up
// takes hundreds of milliseconds, every time). It runs commands with /bin/sh, many at once, over
// one channel: frames of [u32 length][JSON header line][payload] in both directions.
import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';

/** The server, standard library only. It stops its own children when the channel closes. */
export const AGENT_SOURCE = String.raw`
import json, os, signal, struct, subprocess, sys, threading
out = sys.stdout.buffer
inp = sys.stdin.buffer
lock = threading.Lock()
procs = {}

def send(header, payload=b""):
    head = json.dumps(header).encode() + b"\n"
    with lock:
        out.write(struct.pack(">I", len(head) + len(payload)) + head + payload)
        out.flush()

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = inp.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def status(code):
    return 128 - code if code < 0 else code

def pump(stream, rid, op):
    for chunk in iter(lambda: stream.read1(65536), b""):
        send({"id": rid, "op": op}, chunk)

def run(rid, script, data, streaming):
    try:
        p = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL if streaming else subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        send({"id": rid, "op": "exit", "code": 127, "stderr": str(exc)})
        return
    procs[rid] = p
    try:
        if streaming:
            errs = threading.Thread(target=pump, args=(p.stderr, rid, "stderr"), daemon=True)
            errs.start()
            pump(p.stdout, rid, "data")
            errs.join()
            send({"id": rid, "op": "exit", "code": status(p.wait())})
        else:
            o, e = p.communicate(data)
            send({"id": rid, "op": "exit", "code": status(p.returncode), "stderr": e.decode("utf-8", "replace")[-65536:]}, o)
    finally:
        procs.pop(rid, None)

def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass

send({"op": "hello", "python": sys.executable, "pid": os.getpid()})
while True:
    head = read_exact(4)
    body = head and read_exact(struct.unpack(">I", head)[0])
    if not body:
        break
    cut = body.index(b"\n")
    req = json.loads(body[:cut].decode())
    if req["op"] == "kill":
        p = procs.get(req["id"])
        if p:
            stop(p)
    else:
        threading.Thread(target=run, args=(req["id"], req["script"], body[cut + 1:], req["op"] == "stream"), daemon=True).start()
for p in list(procs.values()):
    stop(p)
`;

export interface AgentResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** A streamed command: 'data' and 'close' (code) events; stderr chunks on `stderr`. */
export class AgentProcess extends EventEmitter {
  readonly stderr = new EventEmitter();

  constructor(private readonly kill: () => void) {
    super();
  }

  close(): void {
    this.kill();
  }
}

type Pending = { kind: 'exec'; resolve(r: AgentResult): void; reject(e: Error): void } | { kind: 'stream'; proc: AgentProcess };

export class Agent extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** The host's Python, as an absolute path: later runs skip the login shell's PATH lookup. */
  python = '';
  readonly ready: Promise<void>;

  constructor(private readonly channel: ClientChannel) {
    super();
    let hello: (() => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      hello = resolve;
      failed = reject;
    });
    let stderr = '';
    channel.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
    channel.on('data', (d: Buffer) => this.onData(d, () => hello?.()));
    channel.on('close', () => {
      this.closed = true;
      failed?.(new Error(`the remote command server did not start: ${stderr.trim() || 'no output'}`));
      const gone = new Error('connection lost');
      for (const p of this.pending.values()) {
        if (p.kind === 'exec') p.reject(gone);
        else p.proc.emit('close', null);
      }
      this.pending.clear();
      this.emit('close');
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private onData(d: Buffer, onHello: () => void): void {
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) return;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const cut = body.indexOf(10);
      const header = JSON.parse(body.subarray(0, cut).toString('utf8')) as { op: string; id?: number; code?: number; stderr?: string; python?: string };
      const payload = Buffer.from(body.subarray(cut + 1));
      if (header.op === 'hello') {
        this.python = header.python ?? '';
        onHello();
        continue;
      }
      const p = this.pending.get(header.id!);
      if (!p) continue;
      if (p.kind === 'exec') {
        if (header.op === 'exit') {
          this.pending.delete(header.id!);
          p.resolve({ code: header.code ?? -1, stdout: payload, stderr: header.stderr ?? '' });
        }
      } else if (header.op === 'data') p.proc.emit('data', payload);
      else if (header.op === 'stderr') p.proc.stderr.emit('data', payload);
      else if (header.op === 'exit') {
        this.pending.delete(header.id!);
        p.proc.emit('close', header.code ?? null);
      }
    }
  }

  private send(header: object, payload: Buffer = Buffer.alloc(0)): void {
    const head = Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(head.length + payload.length);
    this.channel.write(Buffer.concat([len, head, payload]));
  }

  /** Runs a script to completion with `input` on its stdin. */
  exec(script: string, input: Buffer = Buffer.alloc(0)): Promise<AgentResult> {
    if (this.closed) return Promise.reject(new Error('connection lost'));
    const id = this.nextId++;
    return new Promise<AgentResult>((resolve, reject) => {
      this.pending.set(id, { kind: 'exec', resolve, reject });
      this.send({ op: 'exec', id, script }, input);
    });
  }

  /** Starts a script whose output is streamed back until it exits or is closed. */
  stream(script: string): AgentProcess {
    const id = this.nextId++;
    const proc = new AgentProcess(() => {
      if (!this.closed && this.pending.has(id)) this.send({ op: 'kill', id });
    });
    if (this.closed) {
      setImmediate(() => proc.emit('close', null));
      return proc;
    }
    this.pending.set(id, { kind: 'stream', proc });
    this.send({ op: 'stream', id, script });
    return proc;
  }

  close(): void {
    this.channel.end();
  }
}
