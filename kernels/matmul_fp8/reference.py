"""Reference for matmul_fp8: c = (A @ B^T) * scale_a * scale_b with A, B in float8 e4m3 (per-tensor scales), C in bfloat16.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn

M, N, K = 4096, 4096, 4096


class Model(nn.Module):
    def forward(self, a, b, scale_a, scale_b):
        # Dequantise in the scales' precision (float32 here, float64 for the ground truth).
        return ((a.to(scale_a.dtype) @ b.to(scale_a.dtype).t()) * (scale_a * scale_b)).to(
            torch.bfloat16)


def get_inputs():
    a = (torch.randn(M, K) * 2).to(torch.float8_e4m3fn)
    b = (torch.randn(N, K) * 2).to(torch.float8_e4m3fn)
    return [a, b, torch.tensor(0.05), torch.tensor(0.02)]


def get_init_inputs():
    return []
