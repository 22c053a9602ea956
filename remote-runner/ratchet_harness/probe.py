"""`probe` mode: what GPUs this host has, and their peak figures from the table."""

import importlib.util
import shutil
import subprocess

from . import environment, peaks

_FIELDS = ["index", "name", "uuid", "memory.total", "clocks.sm", "clocks.max.sm", "clocks.mem",
           "clocks.max.mem", "driver_version", "pci.bus_id"]


def _package_version(name):
    # Read the installed version without importing: importing torch costs seconds and CUDA
    # initialisation, which a probe does not need.
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:  # noqa: BLE001 - any failure means "not installed" here
        return None


def _int_or_none(text):
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def query_nvidia_smi():
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, "nvidia-smi not found"
    try:
        out = subprocess.run([exe, "--query-gpu=" + ",".join(_FIELDS),
                              "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, "nvidia-smi failed: %s" % exc
    if out.returncode != 0:
        return None, "nvidia-smi failed: %s" % out.stderr.strip()[:500]
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(_FIELDS):
            continue
        row = dict(zip(_FIELDS, parts))
        gpus.append(describe_gpu(row))
    cuda = None
    try:
        banner = subprocess.run([exe], capture_output=True, text=True, timeout=20).stdout
        marker = "CUDA Version:"
        if marker in banner:
            cuda = banner.split(marker, 1)[1].split()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    for gpu in gpus:
        gpu["cuda_driver_version"] = cuda
    return gpus, None


def describe_gpu(row):
    name = row.get("name")
    return {
        "index": _int_or_none(row.get("index")),
        "name": name,
        "uuid": row.get("uuid"),
        "memory_bytes": (_int_or_none(row.get("memory.total")) or 0) * 1024 * 1024 or None,
        "clocks_mhz": {
            "sm": _int_or_none(row.get("clocks.sm")),
            "sm_max": _int_or_none(row.get("clocks.max.sm")),
            "memory": _int_or_none(row.get("clocks.mem")),
            "memory_max": _int_or_none(row.get("clocks.max.mem")),
        },
        "driver_version": row.get("driver_version"),
        "pci_bus_id": row.get("pci.bus_id"),
        "peak": peaks.lookup(name),
    }


def collect():
    gpus, problem = query_nvidia_smi()
    return {
        "gpus": gpus or [],
        "problem": problem,
        "software": {
            "torch": _package_version("torch"),
            "triton": _package_version("triton"),
            "torch_importable": importlib.util.find_spec("torch") is not None,
        },
        "environment": environment.describe(),
        "known_chips": peaks.known_chips(),
    }


def run(args, emitter):
    emitter.emit("start", mode="probe", environment=environment.describe())
    info = collect()
    emitter.emit("probe", **info)
    emitter.end("ok", exit_code=0)
    return 0
