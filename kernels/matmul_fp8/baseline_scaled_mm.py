"""Scoring baseline for matmul_fp8 (SOL-ExecBench's S = 0.5 anchor: the task written with
PyTorch's own optimised operators): torch._scaled_mm, PyTorch's fp8 GEMM (cuBLASLt), with the
per-tensor scales. Trusted task code, not a candidate."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, a, b, scale_a, scale_b):
        out = torch._scaled_mm(a, b.t(), scale_a=scale_a.float(), scale_b=scale_b.float(),
                               out_dtype=torch.bfloat16)
        return out[0] if isinstance(out, tuple) else out
