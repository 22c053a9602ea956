"""Reference for row_sum: sum over the last dimension of a float32 matrix.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn

rows, cols = 16384, 8192


class Model(nn.Module):
    def forward(self, x):
        return x.sum(dim=-1)


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return []
