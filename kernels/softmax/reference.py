"""Reference for softmax: row softmax of a bfloat16 matrix, computed in float32.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn

rows, cols = 8192, 4096


class Model(nn.Module):
    def forward(self, x):
        return torch.softmax(x.float(), dim=-1).to(x.dtype)


def get_inputs():
    return [(torch.randn(rows, cols) * 2).to(torch.bfloat16)]


def get_init_inputs():
    return []
