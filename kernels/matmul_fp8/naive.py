"""Starting point: upcast to bfloat16 (exact for e4m3) and use a bfloat16 matmul."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, a, b, scale_a, scale_b):
        c = a.to(torch.bfloat16) @ b.to(torch.bfloat16).t()
        return (c.float() * (scale_a * scale_b)).to(torch.bfloat16)
