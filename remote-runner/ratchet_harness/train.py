"""`train` mode: run a training command under a wall-clock budget that lives outside the
edited code, stream its output, read its metrics, and check it left protected files alone.

With instrumentation (the default), every Python process of the run loads the harness's in-run
code first (`inrun/`): the metric is then what the task's protected evaluation function returned,
and the run is audited from inside (contract/judge.py lists the checks)."""

import json
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
import time

from . import environment, hashing, metrics
from .contract import leftovers
from .contract.channel import ChannelServer
from .contract.judge import Judge
from .gpu_memory import GroupMemorySampler
from .process import CancelFlag, LineReader, kill_group, start_in_group

_HERE = os.path.dirname(os.path.abspath(__file__))
_INRUN = os.path.join(_HERE, "inrun")
_BOOT = os.path.join(_INRUN, "boot")


class _OutputSink:
    """Turns the child's lines into log and metric events, within a total log budget. Metrics
    are still parsed after the log budget is spent: a noisy run must not lose its result."""

    def __init__(self, emitter, max_log_bytes):
        self.emitter = emitter
        self.max_log_bytes = max_log_bytes
        self.log_bytes = 0
        self.dropped_lines = 0
        self.metric_count = 0
        self.printed = {}  # name -> (value, raw) of the last line that printed it
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
            self.printed[name] = (value, raw)
            self.emitter.emit("metric", name=name, value=value, raw=raw, source="output",
                              stream=stream)


def _split_function(spec, cwd):
    """`path:function` (path relative to cwd or absolute) as (absolute path, function)."""
    path, sep, function = spec.rpartition(":")
    if not sep or not path or not function.isidentifier():
        raise ValueError("%r is not PATH:FUNCTION" % spec)
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(path))), function


def _label(spec):
    """`./prepare.py:evaluate_bpb` as the user wrote it: `prepare.py:evaluate_bpb`."""
    return spec[2:] if spec and spec.startswith("./") else spec


def _place(cwd, path):
    """A path given relative to cwd, absolute; a folder ends with "/" (the watcher matches
    everything under it)."""
    full = os.path.join(cwd, path)
    return full + "/" if os.path.isdir(full) else full


def _contract(args, cwd, run_root):
    """The in-run instrumentation's configuration (inrun/runtime.py reads it), and the judge's
    options, from the command line."""
    evaluate = _split_function(args.evaluate, cwd) if args.evaluate else None
    guard = _split_function(args.guard_function, cwd) if args.guard_function else None
    evaluation_only = [_place(cwd, p) for p in args.evaluation_only or []]
    if guard:
        if os.path.realpath(guard[0]).startswith(os.path.join(os.path.realpath(run_root), "")):
            raise ValueError("the guard %s is inside the run's folder, where the run can read it; "
                             "keep it outside the repository" % args.guard_function)
        # The guard's folder holds data the run must never read outside an evaluation call.
        evaluation_only.append(os.path.dirname(guard[0]) + "/")
    probes = "auto" if not args.probe and not args.no_probes else list(args.probe or [])
    home = os.path.expanduser("~")
    writable = [tempfile.gettempdir(), "/dev", os.path.join(home, ".cache"), os.path.join(home, ".triton"),
                os.path.join(home, ".nv"), os.path.join(home, ".config", "matplotlib")]
    config = {
        "run_root": run_root,
        "protected": [_place(cwd, p) for p in args.protect or []],
        "evaluation_only": evaluation_only,
        "evaluate": {"file": evaluate[0], "function": evaluate[1]} if evaluate else None,
        "metric": args.metric,
        "probes": probes,
        "guard": {"file": guard[0], "function": guard[1], "metric": args.guard_metric} if guard else None,
        "harness_dirs": [_HERE],
        "writable": writable,
    }
    options = {
        "evaluate_label": _label(args.evaluate),
        "metric": args.metric,
        "training_budget_seconds": args.training_budget_seconds,
        "training_allowance_seconds": args.training_allowance_seconds,
        "probes": probes,
        "guard_label": _label(args.guard_function) or args.guard_command,
        "guard_command": args.guard_command,
        "guard_metric": args.guard_metric,
        "disabled": args.disable_check or [],
    }
    return config, options


def _run_guard_command(args, cwd, env, emitter):
    """The guard as a command run after training, in the run's folder: its output names the
    guard metric."""
    try:
        done = subprocess.run(args.guard_command, shell=True, cwd=cwd, env=env, capture_output=True,
                              timeout=args.guard_timeout_seconds, executable="/bin/sh")
    except subprocess.TimeoutExpired:
        emitter.audit("guard", "warn", "the guard command ran over %gs" % args.guard_timeout_seconds)
        return
    found = None
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        for name, value, _raw in metrics.parse_line(line):
            if name == args.guard_metric:
                found = value
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        emitter.audit("guard", "warn", "the guard command gave no %s (exit code %d) %s" % (
            args.guard_metric, done.returncode, tail[0][:200]))
        return
    emitter.emit("metric", name=args.guard_metric, value=found, source="guard", function=args.guard_command)


def run(args, emitter, cancel=None):
    cancel = cancel or CancelFlag().install()
    cwd = os.path.abspath(args.cwd)
    run_root = os.path.abspath(args.run_root or args.cwd)
    command = args.command
    env = dict(os.environ)
    for name in args.scrub_env or []:
        env.pop(name, None)
    # The harness's own package stays out of the run's imports.
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and os.path.abspath(p) != os.path.dirname(_HERE))
    env["RATCHET_EXPERIMENT_ID"] = emitter.experiment_id
    if args.seed is not None:
        env["RATCHET_SEED"] = str(args.seed)
    if args.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = args.gpu
    for item in args.env or []:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Every process of the run carries this marker, so one that leaves the process group is
    # still found and stopped when the run ends.
    token = secrets.token_hex(16)
    env["RATCHET_RUN_TOKEN"] = token

    emitter.emit("start", mode="train", command=command, cwd=cwd,
                 budget_seconds=args.budget_seconds, seed=args.seed,
                 protected=list(args.protect or []), environment=environment.describe(),
                 instrumented=not args.no_instrument, evaluate=args.evaluate)

    try:
        config, options = _contract(args, cwd, run_root)
    except ValueError as exc:
        emitter.end("error", message=str(exc), wall_seconds=0.0)
        return 2
    private = None
    channel = None
    if not args.no_instrument:
        # A private folder (mode 0700) for the channel's socket and the configuration.
        private = tempfile.mkdtemp(prefix="ratchet-run-")
        channel = ChannelServer(private)
        config["channel"] = channel.path
        config["harness_dirs"].append(private)
        config_path = os.path.join(private, "config.json")
        with open(config_path, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_BOOT, env.get("PYTHONPATH")) if p)
        env["RATCHET_INRUN"] = _INRUN
        env["RATCHET_INRUN_BOOT"] = _BOOT
        env["RATCHET_INRUN_CONFIG"] = config_path
    judge = Judge(emitter, options, started=0.0)

    before = hashing.snapshot(args.protect or [], cwd)
    started = time.monotonic()
    judge.started = started
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Orphans of the run become the harness's children, so one that dropped the marker is found.
    leftovers.adopt_orphans()
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
    # Processes that left the group (setsid, a double fork) still carry the run's marker.
    escaped = leftovers.kill_all(token, run_group=proc.pid)
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

    failure = None
    if channel is not None:
        channel.close()
        messages, processes, tampering = channel.snapshot()
        failure = judge.judge(messages, processes, tampering, sink.printed, escaped, instrumented=True,
                              command_ok=reason == "ok")
    elif escaped:
        judge._processes([], escaped)
    if args.guard_command and reason == "ok":
        guard_env = {k: v for k, v in env.items() if not k.startswith("RATCHET_INRUN")}
        guard_env["PYTHONPATH"] = os.pathsep.join(p for p in guard_env.get("PYTHONPATH", "").split(os.pathsep)
                                                  if p and p != _BOOT)
        _run_guard_command(args, cwd, guard_env, emitter)
    if private is not None:
        shutil.rmtree(private, ignore_errors=True)

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
    elif reason == "ok" and failure:
        reason = "failed"
        message = failure
    emitter.end(reason, exit_code=exit_code, signal=signal_name, wall_seconds=round(wall, 3),
                message=message)
    return 0 if reason == "ok" else 1
