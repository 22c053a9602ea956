"""Reference for swiglu_mlp: swiGLU MLP: (silu(x @ Wg) * (x @ Wu)) @ Wd, bfloat16.
The module globals are the shape; the harness sets them for each shape in task.json."""

import torch
import torch.nn as nn
import torch.nn.functional as F

T, D, HID = 4096, 2048, 5632


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w_gate = nn.Parameter((torch.randn(D, HID) / D ** 0.5).to(torch.bfloat16))
        self.w_up = nn.Parameter((torch.randn(D, HID) / D ** 0.5).to(torch.bfloat16))
        self.w_down = nn.Parameter((torch.randn(HID, D) / HID ** 0.5).to(torch.bfloat16))

    def forward(self, x):
        return (F.silu(x @ self.w_gate) * (x @ self.w_up)) @ self.w_down


def get_inputs():
    return [torch.randn(T, D).to(torch.bfloat16)]


def get_init_inputs():
    return []
