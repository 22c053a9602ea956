"""Starting point: the product in float32, rounded back to bfloat16."""
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, a, b):
        return (a.float() @ b.float()).to(a.dtype)
