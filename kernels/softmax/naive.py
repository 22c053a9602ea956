"""Starting point: softmax written out, one PyTorch op per step."""
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        xf = x.float()
        e = (xf - xf.amax(dim=-1, keepdim=True)).exp()
        return (e / e.sum(dim=-1, keepdim=True)).to(x.dtype)
