"""Starting point: PyTorch's fused scaled_dot_product_attention with the mask spelled out."""
import torch
import torch.nn as nn
import torch.nn.functional as F

WINDOW = 0  # set by the harness for each shape


class ModelNew(nn.Module):
    def forward(self, q, k, v):
        if not WINDOW:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        i = torch.arange(q.shape[-2], device=q.device)
        visible = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - WINDOW)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
