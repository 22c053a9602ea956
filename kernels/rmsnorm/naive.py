"""Starting point: the reference's steps, with the weight applied before the scale."""
import torch
import torch.nn as nn

rows, cols = 8192, 4096  # set by the harness for each shape


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        xf = x.float()
        ms = (xf * xf).sum(dim=-1, keepdim=True) / xf.shape[-1]
        return ((xf * self.weight.float()) / torch.sqrt(ms + 1e-6)).to(x.dtype)
