"""Runs the harness as the engine does (a child process) and checks every line it prints."""

import json
import os
import subprocess
import sys

from ratchet_harness import schema

RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(RUNNER_ROOT)
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
_SCHEMA = schema.load()


def harness_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = RUNNER_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def harness_cmd(*args):
    return [sys.executable, "-m", "ratchet_harness"] + list(args)


def parse_events(stdout, experiment_id=None):
    """Every stdout line must be one schema-valid event of the same experiment, in seq order."""
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        schema.validate_event(event, _SCHEMA)
        if experiment_id is not None and event["experiment_id"] != experiment_id:
            raise AssertionError("foreign experiment id in %r" % line)
        events.append(event)
    seqs = [e["seq"] for e in events]
    if seqs != list(range(len(seqs))):
        raise AssertionError("seq not consecutive: %r" % seqs)
    return events


def run_harness(*args, timeout=120, env=None, experiment_id=None):
    proc = subprocess.run(harness_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=harness_env(env))
    try:
        events = parse_events(proc.stdout, experiment_id)
    except Exception as exc:  # show the harness's stderr, which says why
        raise AssertionError("%s\nstderr:\n%s" % (exc, proc.stderr[-4000:]))
    return proc, events


def of_type(events, type_):
    return [e for e in events if e["type"] == type_]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
