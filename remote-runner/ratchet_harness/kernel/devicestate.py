"""Read-only views of the GPU's state for the time worker, through the CUDA driver and NVML
libraries that come with the NVIDIA driver (ctypes, no extra package):

- the persisting-L2 set-aside (`cuCtxGetLimit(CU_LIMIT_PERSISTING_L2_CACHE_SIZE)`) and the
  access-policy window of a stream, so a candidate that pins its data in L2 is seen;
- `cuCtxResetPersistingL2Cache`, which turns persisting lines back into normal ones. It acts on
  this process's own CUDA context only; nothing here changes a clock, a power limit or any
  other setting of the GPU;
- per-round samples of the SM clock, temperature, power and throttle reasons (NVML), recorded
  as evidence so a slow round can be told apart as a clock change or contention.

Everything degrades to `None` with a reason when a library or a call is missing."""

import ctypes
import os

CU_LIMIT_PERSISTING_L2_CACHE_SIZE = 0x06
CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW = 1
NVML_CLOCK_SM = 1
NVML_TEMPERATURE_GPU = 0


class _AccessPolicyWindow(ctypes.Structure):
    _fields_ = [("base_ptr", ctypes.c_void_p), ("num_bytes", ctypes.c_size_t),
                ("hitRatio", ctypes.c_float), ("hitProp", ctypes.c_int),
                ("missProp", ctypes.c_int)]


class _StreamAttrValue(ctypes.Union):
    # CUlaunchAttributeValue is a 64-byte union; only the access-policy window is read.
    _fields_ = [("accessPolicyWindow", _AccessPolicyWindow), ("pad", ctypes.c_char * 64)]


def _load(names):
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


class L2Persistence:
    """The driver's persisting-L2 controls for the current context (torch's primary one)."""

    def __init__(self):
        self.lib = _load(["libcuda.so.1", "libcuda.so"])
        self.problem = None if self.lib else "libcuda not loadable"

    def available(self):
        return self.lib is not None

    def limit_bytes(self):
        if not self.lib:
            return None
        value = ctypes.c_size_t(0)
        rc = self.lib.cuCtxGetLimit(ctypes.byref(value), CU_LIMIT_PERSISTING_L2_CACHE_SIZE)
        return int(value.value) if rc == 0 else None

    def window_bytes(self, stream_handle):
        """Bytes covered by the stream's access-policy window (0: none), or None."""
        if not self.lib or not hasattr(self.lib, "cuStreamGetAttribute"):
            return None
        value = _StreamAttrValue()
        rc = self.lib.cuStreamGetAttribute(ctypes.c_void_p(stream_handle),
                                           CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW,
                                           ctypes.byref(value))
        return int(value.accessPolicyWindow.num_bytes) if rc == 0 else None

    def reset(self):
        """Persisting lines back to normal; True when the driver accepted the call."""
        if not self.lib or not hasattr(self.lib, "cuCtxResetPersistingL2Cache"):
            return False
        return self.lib.cuCtxResetPersistingL2Cache() == 0

    def snapshot(self, stream_handle=None):
        return {"persisting_limit_bytes": self.limit_bytes(),
                "stream_window_bytes": self.window_bytes(stream_handle)
                if stream_handle is not None else None}


class ClockSampler:
    """NVML samples of one GPU. Index: the first CUDA_VISIBLE_DEVICES entry when it is a
    number, else 0 (NVML numbers devices without regard to CUDA_VISIBLE_DEVICES)."""

    def __init__(self):
        self.lib = _load(["libnvidia-ml.so.1", "libnvidia-ml.so"])
        self.handle = None
        if not self.lib:
            return
        try:
            if self.lib.nvmlInit_v2() != 0:
                self.lib = None
                return
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
            index = int(visible) if visible.isdigit() else 0
            handle = ctypes.c_void_p()
            if self.lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) == 0:
                self.handle = handle
        except (AttributeError, OSError):
            self.lib = None

    def available(self):
        return self.handle is not None

    def max_sm_mhz(self):
        """The chip's highest SM clock (read, not set), or None."""
        if self.handle is None:
            return None
        value = ctypes.c_uint(0)
        if self.lib.nvmlDeviceGetMaxClockInfo(self.handle, NVML_CLOCK_SM,
                                              ctypes.byref(value)) == 0 and value.value:
            return int(value.value)
        return None

    def sample(self):
        if self.handle is None:
            return None
        out = {}
        value = ctypes.c_uint(0)
        if self.lib.nvmlDeviceGetClockInfo(self.handle, NVML_CLOCK_SM, ctypes.byref(value)) == 0:
            out["sm_mhz"] = int(value.value)
        if self.lib.nvmlDeviceGetTemperature(self.handle, NVML_TEMPERATURE_GPU,
                                             ctypes.byref(value)) == 0:
            out["temp_c"] = int(value.value)
        if self.lib.nvmlDeviceGetPowerUsage(self.handle, ctypes.byref(value)) == 0:
            out["power_w"] = round(value.value / 1000.0, 1)
        reasons = ctypes.c_ulonglong(0)
        getter = getattr(self.lib, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            getattr(self.lib, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
        if getter is not None and getter(self.handle, ctypes.byref(reasons)) == 0:
            out["throttle_reasons"] = int(reasons.value)
        count = ctypes.c_uint(0)
        procs = getattr(self.lib, "nvmlDeviceGetComputeRunningProcesses_v3", None) or \
            getattr(self.lib, "nvmlDeviceGetComputeRunningProcesses", None)
        if procs is not None:
            rc = procs(self.handle, ctypes.byref(count), None)
            # 0: no process; 7 (INSUFFICIENT_SIZE): `count` holds how many there are.
            if rc in (0, 7):
                out["compute_processes"] = int(count.value)
        return out
