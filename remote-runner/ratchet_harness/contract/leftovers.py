"""Processes of a run still alive after its process group was stopped: found by the marker the
harness put in the run's environment (RATCHET_RUN_TOKEN), not by name, so a process that left the
group (setsid, a double fork) is found too. Linux only (/proc); elsewhere nothing is found."""

import os
import signal
import time


def find(token):
    needle = ("RATCHET_RUN_TOKEN=%s" % token).encode()
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    me = os.getpid()
    for pid in pids:
        if pid == me:
            continue
        try:
            with open("/proc/%d/environ" % pid, "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open("/proc/%d/stat" % pid, "rb") as handle:
                if handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # a zombie holds nothing
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        found.append({"pid": pid, "cmdline": cmdline[:300]})
    return found


def kill_all(token, wait_seconds=2.0):
    """SIGKILLs every process with the marker; returns what it found (before killing)."""
    found = find(token)
    for proc in found:
        try:
            os.kill(proc["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait_seconds
    while found and time.monotonic() < deadline and find(token):
        time.sleep(0.05)
    return found
