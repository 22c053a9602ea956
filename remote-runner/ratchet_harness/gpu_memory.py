"""Peak GPU memory of a process group, sampled from nvidia-smi (no torch needed in the harness).
Sampling misses spikes shorter than the interval; training scripts that print their own
`peak_vram_mb` give the exact figure as a metric."""

import os
import shutil
import subprocess
import threading


def _pgid_of(pid):
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def query_process_memory():
    """Return {pid: bytes} for compute processes nvidia-smi lists, or None without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    usage = {}
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            try:
                usage[int(parts[0])] = int(float(parts[1])) * 1024 * 1024
            except ValueError:
                continue
    return usage


class GroupMemorySampler(threading.Thread):
    def __init__(self, pgid, interval=1.0):
        super().__init__(name="gpu-memory", daemon=True)
        self.pgid = pgid
        self.interval = interval
        self.peak_bytes = None
        self.available = shutil.which("nvidia-smi") is not None
        self._halt = threading.Event()

    def run(self):
        while self.available and not self._halt.is_set():
            usage = query_process_memory()
            if usage is None:
                self.available = False
                break
            total = sum(b for pid, b in usage.items() if _pgid_of(pid) == self.pgid)
            if total and (self.peak_bytes is None or total > self.peak_bytes):
                self.peak_bytes = total
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
