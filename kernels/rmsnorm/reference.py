"""Reference for rmsnorm: rMSNorm over the last dimension of a bfloat16 matrix with a weight, in float32.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn

rows, cols = 8192, 4096


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        xf = x.float()
        rms = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + 1e-6)
        return (xf * rms * self.weight.float()).to(x.dtype)


def get_inputs():
    return [(torch.randn(rows, cols) * 2).to(torch.bfloat16)]


def get_init_inputs():
    return []
