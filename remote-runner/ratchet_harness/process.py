"""Running untrusted commands: own process group, group-wide kill, bounded output reading."""

import os
import signal
import subprocess
import threading
import time


def start_in_group(argv_or_cmd, cwd=None, env=None, shell=False, pass_fds=()):
    """Start a child as leader of a new session and process group, so that killing the group
    also reaches whatever it forked (data loaders, torchrun workers, shells inside shells)."""
    return subprocess.Popen(
        argv_or_cmd, cwd=cwd, env=env, shell=shell,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, pass_fds=pass_fds,
        executable="/bin/sh" if shell else None,
    )


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_group(proc, grace_seconds=5.0):
    """SIGTERM the group, give it grace_seconds to save and exit, then SIGKILL. Returns the
    signal that ended the leader (None when it had already exited on its own)."""
    pgid = proc.pid  # leader of its own session: pgid == pid
    sent = None
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        sent = "SIGTERM"
        deadline = time.monotonic() + grace_seconds
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            sent = "SIGKILL"
    # Always sweep the group: children that outlive the leader would keep the GPU busy and
    # leak state into the next run on this slot.
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()
    return sent


class LineReader(threading.Thread):
    """Reads a pipe as byte lines (at most max_line bytes each, so a newline-free flood cannot
    exhaust memory) and hands each decoded line to a callback."""

    def __init__(self, pipe, name, on_line, max_line=16384):
        super().__init__(name="reader-" + name, daemon=True)
        self.pipe = pipe
        self.stream_name = name
        self.on_line = on_line
        self.max_line = max_line

    def run(self):
        try:
            while True:
                chunk = self.pipe.readline(self.max_line)
                if not chunk:
                    break
                complete = chunk.endswith(b"\n")
                text = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
                self.on_line(self.stream_name, text, complete)
        except (OSError, ValueError):
            pass
        finally:
            try:
                self.pipe.close()
            except OSError:
                pass


class CancelFlag:
    """Set by SIGTERM/SIGINT/SIGHUP sent to the harness; the main loop then kills the child's
    group and still reports `end` with reason cancelled."""

    def __init__(self):
        self.event = threading.Event()
        self.signal_name = None

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, _frame):
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def is_set(self):
        return self.event.is_set()
