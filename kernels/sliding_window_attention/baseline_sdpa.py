"""Scoring baseline for sliding_window_attention (SOL-ExecBench's S = 0.5 anchor: the task
written with PyTorch's own optimised operators): scaled_dot_product_attention with a boolean
band mask. Trusted task code, not a candidate."""
import torch
import torch.nn as nn
import torch.nn.functional as F

WINDOW = 512  # set by the harness for each shape


class ModelNew(nn.Module):
    def forward(self, q, k, v):
        s = q.shape[-2]
        i = torch.arange(s, device=q.device)
        allowed = i[None, :] <= i[:, None]
        if WINDOW:
            allowed = allowed & (i[None, :] > i[:, None] - WINDOW)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
