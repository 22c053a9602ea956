"""Peak figures of known GPUs, from the vendors' datasheets: dense tensor-core FLOP/s (no
structured sparsity) and DRAM bandwidth. They are table values, not measurements; the
speed-of-light bound uses them, so a host whose clocks run lower scores lower than it would
against its own measured ceiling."""

TFLOP = 1e12
TB = 1e12

# Each entry: match strings (all must appear in the lower-cased device name), then figures.
# fp32 is the non-tensor (CUDA core) rate; tf32/bf16/fp16/fp8/int8 are dense tensor-core rates
# with fp32 accumulation.
_TABLE = [
    {"chip": "H200", "match": ["h200"],
     "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "int8": 1978.9, "tf32": 494.7, "fp32": 66.9,
     "bandwidth_tb_s": 4.8, "memory_gb": 141},
    {"chip": "H100 PCIe", "match": ["h100", "pcie"],
     "bf16": 756.5, "fp16": 756.5, "fp8": 1513.0, "int8": 1513.0, "tf32": 378.0, "fp32": 51.2,
     "bandwidth_tb_s": 2.0, "memory_gb": 80},
    {"chip": "H100 NVL", "match": ["h100", "nvl"],
     "bf16": 835.5, "fp16": 835.5, "fp8": 1670.5, "int8": 1670.5, "tf32": 417.5, "fp32": 60.0,
     "bandwidth_tb_s": 3.9, "memory_gb": 94},
    {"chip": "H100 SXM", "match": ["h100"],
     "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9, "int8": 1978.9, "tf32": 494.7, "fp32": 66.9,
     "bandwidth_tb_s": 3.35, "memory_gb": 80},
    {"chip": "B200", "match": ["b200"],
     "bf16": 2250.0, "fp16": 2250.0, "fp8": 4500.0, "int8": 4500.0, "tf32": 1100.0, "fp32": 75.0,
     "bandwidth_tb_s": 8.0, "memory_gb": 180},
    {"chip": "A100 80GB", "match": ["a100", "80g"],
     "bf16": 312.0, "fp16": 312.0, "fp8": None, "int8": 624.0, "tf32": 156.0, "fp32": 19.5,
     "bandwidth_tb_s": 2.039, "memory_gb": 80},
    {"chip": "A100 40GB", "match": ["a100"],
     "bf16": 312.0, "fp16": 312.0, "fp8": None, "int8": 624.0, "tf32": 156.0, "fp32": 19.5,
     "bandwidth_tb_s": 1.555, "memory_gb": 40},
    {"chip": "L40S", "match": ["l40s"],
     "bf16": 362.05, "fp16": 362.05, "fp8": 733.0, "int8": 733.0, "tf32": 183.0, "fp32": 91.6,
     "bandwidth_tb_s": 0.864, "memory_gb": 48},
    {"chip": "RTX 4090", "match": ["4090"],
     "bf16": 165.2, "fp16": 165.2, "fp8": 330.3, "int8": 660.6, "tf32": 82.6, "fp32": 82.6,
     "bandwidth_tb_s": 1.008, "memory_gb": 24},
]

PRECISIONS = ("bf16", "fp16", "fp8", "int8", "tf32", "fp32")


def lookup(device_name):
    """Return the peak figures for a device name such as 'NVIDIA H100 80GB HBM3', or None.
    FLOP/s and bytes/s are in base units; `source` says they come from the table."""
    name = (device_name or "").lower()
    for entry in _TABLE:
        if all(token in name for token in entry["match"]):
            flops = {p: (entry[p] * TFLOP if entry[p] is not None else None) for p in PRECISIONS}
            return {
                "chip": entry["chip"],
                "source": "table",
                "flops_per_second": flops,
                "bytes_per_second": entry["bandwidth_tb_s"] * TB,
                "memory_bytes": entry["memory_gb"] * 10 ** 9,
            }
    return None


def known_chips():
    return [entry["chip"] for entry in _TABLE]
