"""Starting point: mean and variance written out in float32."""
import torch
import torch.nn as nn

rows, cols = 8192, 4096  # set by the harness for each shape


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        # Same construction order as the reference, so the same seed gives the same weights.
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))
        self.bias = nn.Parameter((0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        xf = x.float()
        mean = xf.mean(dim=-1, keepdim=True)
        var = ((xf - mean) ** 2).mean(dim=-1, keepdim=True)
        y = (xf - mean) * torch.rsqrt(var + 1e-5)
        return (y * self.weight.float() + self.bias.float()).to(x.dtype)
