"""The guard of the GPT task: bits per byte on text no run ever sees (the tail of Genesis, kept
out of the task's repository). Called by the harness with the evaluation's own arguments right
after it."""

import math
import os

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
SEQ_LEN = 256


@torch.no_grad()
def guard_bpb(model, batch_size=16):
    with open(os.path.join(_HERE, "held_out.txt"), "rb") as handle:
        data = torch.tensor(list(handle.read()), dtype=torch.long)
    windows = (len(data) - 1) // SEQ_LEN
    device = next(model.parameters()).device
    rows = torch.stack([data[i * SEQ_LEN:i * SEQ_LEN + SEQ_LEN + 1] for i in range(windows)]).to(device)
    model.eval()
    total, count = 0.0, 0
    for i in range(0, windows, batch_size):
        losses = model(rows[i:i + batch_size, :-1], rows[i:i + batch_size, 1:], reduction="none")
        total += float(losses.float().sum())
        count += losses.numel()
    return total / count / math.log(2)
