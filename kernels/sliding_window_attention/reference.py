"""Reference for sliding_window_attention: causal sliding-window self-attention (each query sees the previous 512 keys, itself included), bfloat16 q, k, v of shape (B, H, S, D); the reference materialises the scores in float32.
The module globals are the shape; the harness sets them for each shape in task.json."""

import math

import torch
import torch.nn as nn

B, H, S, D = 4, 16, 2048, 64
WINDOW = 512  # 0: plain causal


class Model(nn.Module):
    def forward(self, q, k, v):
        acc = torch.promote_types(q.dtype, torch.float32)
        scores = (q.to(acc) @ k.to(acc).transpose(-1, -2)) / math.sqrt(q.shape[-1])
        i = torch.arange(q.shape[-2], device=q.device)
        hidden = i[None, :] > i[:, None]
        if WINDOW:
            hidden = hidden | (i[None, :] <= i[:, None] - WINDOW)
        scores = scores.masked_fill(hidden, float("-inf"))
        return (torch.softmax(scores, dim=-1) @ v.to(acc)).to(q.dtype)


def get_inputs():
    return [torch.randn(B, H, S, D).to(torch.bfloat16) for _ in range(3)]


def get_init_inputs():
    return []
