"""`train` mode: run a training command under a wall-clock budget that lives outside the
edited code, stream its output, read its metrics, and check it left protected files alone."""

import os
import resource
import time

from . import environment, hashing, metrics
from .gpu_memory import GroupMemorySampler
from .process import CancelFlag, LineReader, kill_group, start_in_group


class _OutputSink:
    """Turns the child's lines into log and metric events, within a total log budget. Metrics
    are still parsed after the log budget is spent: a noisy run must not lose its result."""

    def __init__(self, emitter, max_log_bytes):
        self.emitter = emitter
        self.max_log_bytes = max_log_bytes
        self.log_bytes = 0
        self.dropped_lines = 0
        self.metric_count = 0
        self._partial = {}

    def on_line(self, stream, text, complete):
        # A line longer than the reader's limit arrives in pieces: log each piece, but parse
        # metrics only on whole lines.
        size = len(text.encode("utf-8")) + 1
        if self.log_bytes + size <= self.max_log_bytes:
            self.log_bytes += size
            fields = {} if complete else {"partial": True}
            self.emitter.log(stream, text, **fields)
        else:
            if self.dropped_lines == 0:
                self.emitter.log("harness", "log limit of %d bytes reached; further output is "
                                 "not forwarded (metrics are still read)" % self.max_log_bytes)
            self.dropped_lines += 1
        if not complete:
            self._partial[stream] = True
            return
        if self._partial.pop(stream, False):
            return
        for name, value, raw in metrics.parse_line(text):
            self.metric_count += 1
            self.emitter.emit("metric", name=name, value=value, raw=raw, source="output",
                              stream=stream)


def run(args, emitter, cancel=None):
    cancel = cancel or CancelFlag().install()
    cwd = os.path.abspath(args.cwd)
    command = args.command
    env = dict(os.environ)
    env["RATCHET_EXPERIMENT_ID"] = emitter.experiment_id
    if args.seed is not None:
        env["RATCHET_SEED"] = str(args.seed)
    if args.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = args.gpu
    for item in args.env or []:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PYTHONUNBUFFERED", "1")

    emitter.emit("start", mode="train", command=command, cwd=cwd,
                 budget_seconds=args.budget_seconds, seed=args.seed,
                 protected=list(args.protect or []), environment=environment.describe())

    before = hashing.snapshot(args.protect or [], cwd)
    started = time.monotonic()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = start_in_group(command, cwd=cwd, env=env, shell=True)
    except OSError as exc:
        emitter.end("error", message="could not start the command: %s" % exc,
                    wall_seconds=round(time.monotonic() - started, 3))
        return 2

    sink = _OutputSink(emitter, args.max_log_bytes)
    readers = [LineReader(proc.stdout, "stdout", sink.on_line),
               LineReader(proc.stderr, "stderr", sink.on_line)]
    for reader in readers:
        reader.start()
    sampler = GroupMemorySampler(proc.pid)
    sampler.start()

    reason = None
    deadline = started + args.budget_seconds if args.budget_seconds else None
    while proc.poll() is None:
        if cancel.is_set():
            reason = "cancelled"
            break
        if deadline is not None and time.monotonic() >= deadline:
            reason = "timeout"
            break
        time.sleep(0.05)

    killed_with = kill_group(proc, grace_seconds=args.kill_grace_seconds)
    wall = time.monotonic() - started
    sampler.stop()
    for reader in readers:
        # Pipes close once every process of the group is gone; a process that escaped the group
        # (setsid) may hold them open, so do not wait for it forever.
        reader.join(timeout=5)

    exit_code = proc.returncode
    signal_name = None
    if exit_code is not None and exit_code < 0:
        import signal as _signal
        signal_name = _signal.Signals(-exit_code).name
        exit_code = None
    if reason is None:
        reason = "ok" if exit_code == 0 else "failed"

    if args.protect:
        hashing.audit(emitter, before, hashing.snapshot(args.protect, cwd))

    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    emitter.emit(
        "resource",
        wall_seconds=round(wall, 3),
        cpu_user_seconds=round(usage_after.ru_utime - usage_before.ru_utime, 3),
        cpu_system_seconds=round(usage_after.ru_stime - usage_before.ru_stime, 3),
        max_rss_bytes=usage_after.ru_maxrss * 1024,
        peak_gpu_memory_bytes=sampler.peak_bytes,
        peak_gpu_memory_source="nvidia-smi" if sampler.available else None,
        log_bytes=sink.log_bytes,
        dropped_log_lines=sink.dropped_lines,
    )
    message = None
    if reason == "timeout":
        message = "over the budget of %gs; process group stopped with %s" % (
            args.budget_seconds, killed_with)
    elif reason == "cancelled":
        message = "harness received %s; process group stopped with %s" % (
            cancel.signal_name, killed_with)
    emitter.end(reason, exit_code=exit_code, signal=signal_name, wall_seconds=round(wall, 3),
                message=message)
    return 0 if reason == "ok" else 1
