"""Reference for matmul_bf16: c = A @ B in bfloat16 with fp32 accumulation.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn

M, N, K = 4096, 4096, 4096


class Model(nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(M, K).to(torch.bfloat16), torch.randn(K, N).to(torch.bfloat16)]


def get_init_inputs():
    return []
