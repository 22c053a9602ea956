"""Reference for linear_cross_entropy: mean cross-entropy of the logits h @ W^T (the language-model head and loss), bfloat16 inputs, float32 loss.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn
import torch.nn.functional as F

N, D, V = 8192, 2048, 32768


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((0.02 * torch.randn(V, D)).to(torch.bfloat16))

    def forward(self, h, target):
        logits = (h @ self.weight.t()).float()
        return F.cross_entropy(logits, target)


def get_inputs():
    return [torch.randn(N, D).to(torch.bfloat16), torch.randint(0, V, (N,))]


def get_init_inputs():
    return []
