"""Reference for layernorm: layerNorm over the last dimension of a bfloat16 matrix with weight and bias, statistics in float32.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn
import torch.nn.functional as F

rows, cols = 8192, 4096


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))
        self.bias = nn.Parameter((0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        return F.layer_norm(x.float(), (x.shape[-1],), self.weight.float(), self.bias.float(),
                            1e-5).to(x.dtype)


def get_inputs():
    return [(torch.randn(rows, cols) * 2 + 0.5).to(torch.bfloat16)]


def get_init_inputs():
    return []
