"""Processes of a run still alive after its process group was stopped: found by the marker the
harness put in the run's environment (RATCHET_RUN_TOKEN), not by name, so a process that left the
group (setsid, a double fork) is found too; and, since the harness adopts the run's orphans, one
that also dropped the marker from its environment. Linux only (/proc); elsewhere nothing is
found."""

import os
import signal
import time

_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans():
    """Makes this process the subreaper of what it starts: a descendant whose parent exits (a
    double fork, a setsid'd worker) becomes its child instead of init's, so it can still be found
    when it carries no marker. False where the system has no such thing."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stat(pid):
    """(state, ppid, process group, session) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid, "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[-1].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def find(token, run_group=None):
    """The run's processes still alive. Members of the run's own process group (`run_group`) are
    left out: the group was already sent SIGKILL, and one that takes a moment to die (a CUDA
    process releasing the GPU, a compile worker) is dying, not escaping."""
    needle = ("RATCHET_RUN_TOKEN=%s" % token).encode()
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    me = os.getpid()
    session = os.getsid(0)
    for pid in pids:
        if pid == me:
            continue
        try:
            state, ppid, group, sid = _stat(pid)
            if state == b"Z" or (run_group is not None and group == run_group):
                continue  # a zombie holds nothing; the group is already being killed
            # An orphan of the run adopted by the harness (not one of the harness's own helpers,
            # which share its session) is the run's whatever its environment says.
            if not (ppid == me and sid != session):
                with open("/proc/%d/environ" % pid, "rb") as handle:
                    if needle not in handle.read().split(b"\0"):
                        continue
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        found.append({"pid": pid, "cmdline": cmdline[:300]})
    return found


def kill_all(token, wait_seconds=2.0, run_group=None):
    """SIGKILLs every process of the run (see find), again as long as new ones appear: a process
    still dying orphans its children only as it exits. Returns what it found (before killing)."""
    killed = {}
    deadline = time.monotonic() + wait_seconds
    batch = find(token, run_group)
    while batch:
        for proc in batch:
            killed.setdefault(proc["pid"], proc)
            try:
                os.kill(proc["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
        batch = find(token, run_group)
    for pid in killed:  # reap those the harness adopted
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return list(killed.values())
