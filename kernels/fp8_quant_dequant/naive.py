"""Starting point: the same steps with the reciprocal scale kept for the way back."""
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x):
        xf = x.float()
        amax = xf.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12)
        scale = 448.0 / amax
        q = (xf * scale).to(torch.float8_e4m3fn)
        return (q.float() / scale).to(x.dtype)
