"""Scoring baseline for causal_attention (SOL-ExecBench's S = 0.5 anchor: the task written with
PyTorch's own optimised operators): scaled_dot_product_attention with is_causal, which runs
PyTorch's fused attention kernels. Trusted task code, not a candidate."""
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
