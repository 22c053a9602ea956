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

def detach(rundir, harness_path, argv):
    # The harness is forked from here, already imported, instead of started as a new interpreter:
    # that saves the interpreter's start-up on every run. It still gets its own session, files for
    # its output and the pid and status files, so it outlives this server and the connection.
    if harness_path not in sys.path:
        sys.path.insert(0, harness_path)
    import ratchet_harness.__main__ as harness_main
    import ratchet_harness.train  # noqa: F401 - imported before forking, not in every child
    try:
        # Warms the platform lookups the start event reports, once instead of in every child.
        from ratchet_harness import environment
        environment.describe()
    except Exception:
        pass
    first = os.fork()
    if first:
        os.waitpid(first, 0)  # it exits at once, leaving the leader to init
        return
    code = 1
    try:
        if os.fork():
            os._exit(0)
        os.setsid()
        os.chdir(rundir)
        null = os.open(os.devnull, os.O_RDWR)
        out_fd = os.open("out.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        err_fd = os.open("err.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.closerange(3, 65536)
        with open("pgid", "w") as f:
            f.write(str(os.getpid()))
        child = os.fork()
        if child == 0:
            # Fresh stream objects: the server's may hold half a frame written by another thread.
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            rc = 1
            try:
                rc = harness_main.main(argv)
            finally:
                sys.stdout.flush()
                os._exit(rc if isinstance(rc, int) else 1)
        with open("pid.tmp", "w") as f:
            f.write(str(child))
        os.rename("pid.tmp", "pid")
        _, wait_status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        with open("status.tmp", "w") as f:
            f.write(str(status(code)))
        os.rename("status.tmp", "status")
        code = 0
    finally:
        os._exit(code)

class PrepareError(Exception):
    pass

def check(argv, **kw):
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, **kw)
    if done.returncode != 0:
        raise PrepareError("%s failed: %s" % (argv[0], done.stderr.decode("utf-8", "replace").strip()[-2000:]))

spare_lock = threading.Lock()
spare_count = [0]

def refill(base, spares, want):
    # Copies of the base made ahead of time, so a run renames one into place instead of copying.
    with spare_lock:
        os.makedirs(spares, exist_ok=True)
        while len([n for n in os.listdir(spares) if n.startswith("s")]) < want:
            spare_count[0] += 1
            name = "%d.%d" % (os.getpid(), spare_count[0])
            tmp = os.path.join(spares, ".t" + name)
            # Niced: it must not slow the run that just started.
            if subprocess.run(["nice", "-n", "19", "cp", "-a", "--", base, tmp], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                return
            os.rename(tmp, os.path.join(spares, "s" + name))

def prepare(req, patch):
    run, base = req["dir"], req["base"]
    spares = base + ".spares"
    os.makedirs(run)
    with open(os.path.join(run, "patch.diff"), "wb") as f:
        f.write(patch)
    work = os.path.join(run, "work")
    try:
        names = sorted(n for n in os.listdir(spares) if n.startswith("s"))
    except OSError:
        names = []
    for name in names:
        try:
            os.rename(os.path.join(spares, name), work)  # atomic: two runs never get the same one
            break
        except OSError:
            continue
    else:
        check(["cp", "-a", "--", base, work])
    if patch:
        # The ceiling keeps git from patching a repository that happens to enclose the root.
        env = dict(os.environ, GIT_CEILING_DIRECTORIES=run)
        try:
            check(["git", "apply", "--whitespace=nowarn", os.path.join(run, "patch.diff")], cwd=work, env=env)
        except PrepareError as exc:
            raise PrepareError("the patch does not apply to the base snapshot on this host: %s" % exc)
    open(os.path.join(run, "out.jsonl"), "wb").close()
    threading.Thread(target=refill, args=(base, spares, req["spares"]), daemon=True).start()

def start(rid, req, data):
    try:
        prepare(req, data)
        detach(req["dir"], req["pythonpath"], req["argv"])
    except Exception as exc:
        send({"id": rid, "op": "exit", "code": 3, "stderr": str(exc) if isinstance(exc, PrepareError) else repr(exc)})
        return
    send({"id": rid, "op": "exit", "code": 0, "stderr": ""})

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
    elif req["op"] == "start":
        threading.Thread(target=start, args=(req["id"], req, body[cut + 1:]), daemon=True).start()
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

  /**
   * Makes the run folder `dir` (a spare copy of `base`, or a fresh one, with the patch applied),
   * then starts the harness there detached, forked from the server with the harness loaded.
   * No shell is involved: every path travels as data.
   */
  startHarness(spec: { dir: string; base: string; spares: number; pythonpath: string; argv: string[] }, patch: Buffer): Promise<AgentResult> {
    if (this.closed) return Promise.reject(new Error('connection lost'));
    const id = this.nextId++;
    return new Promise<AgentResult>((resolve, reject) => {
      this.pending.set(id, { kind: 'exec', resolve, reject });
      this.send({ op: 'start', id, ...spec }, patch);
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
