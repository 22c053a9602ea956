"""Starting point: sum in chunks of 1024 columns, then sum the partial sums."""
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        r, c = x.shape
        if c % 1024:
            return x.sum(dim=-1)
        return x.view(r, c // 1024, 1024).sum(dim=-1).sum(dim=-1)
