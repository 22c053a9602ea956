"""Opt-in clock locking for a user's own host: steadier timings at base clock. Never used
unless asked for, because changing a shared GPU's clocks affects everyone on it."""

import shutil
import subprocess


def _smi(gpu, *args):
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    cmd = [exe] + (["-i", str(gpu)] if gpu is not None else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def lock_command(gpu, mhz):
    return ["nvidia-smi"] + (["-i", str(gpu)] if gpu is not None else []) + \
        ["--lock-gpu-clocks=%d,%d" % (mhz, mhz)]


def lock(gpu, emitter):
    query = _smi(gpu, "--query-gpu=clocks.default_applications.graphics",
                 "--format=csv,noheader,nounits")
    if query is None or query.returncode != 0:
        emitter.log("harness", "clock locking asked for but nvidia-smi is not usable")
        return False
    mhz = int(float(query.stdout.strip().splitlines()[0]))
    done = _smi(gpu, "--lock-gpu-clocks=%d,%d" % (mhz, mhz))
    ok = done is not None and done.returncode == 0
    emitter.log("harness", "SM clocks locked at %d MHz" % mhz if ok else
                "could not lock clocks: %s" % (done.stderr.strip() if done else ""))
    return ok


def unlock(gpu, emitter):
    done = _smi(gpu, "--reset-gpu-clocks")
    emitter.log("harness", "SM clocks reset" if done is not None and done.returncode == 0
                else "could not reset clocks")
