"""Data and evaluation of the GPT training task: the part a search must not change.

Bytes of public-domain text (the charlm example's: Genesis to train on, Exodus 1-6 held out).
`evaluate_bpb` is the metric: bits per byte of the model's per-token losses over every
held-out window. TIME_BUDGET is the training the task promises; Ratchet's harness times it.
"""

import math
import os

import torch

TIME_BUDGET = 10          # seconds of training
SEQ_LEN = 256             # bytes per training and evaluation window
VOCAB_SIZE = 256          # bytes
EVAL_WINDOWS = 80         # held-out windows evaluated (all of Exodus 1-6)

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_TRAIN = None


def _bytes(name):
    with open(os.path.join(_DATA, name), "rb") as handle:
        return torch.tensor(list(handle.read()), dtype=torch.long)


def get_batch(batch_size, generator, device):
    """Random training windows: inputs and next-byte targets, (batch, SEQ_LEN) each."""
    global _TRAIN
    if _TRAIN is None:
        _TRAIN = _bytes("train.txt")
    starts = torch.randint(0, len(_TRAIN) - SEQ_LEN - 1, (batch_size,), generator=generator)
    rows = torch.stack([_TRAIN[s:s + SEQ_LEN + 1] for s in starts.tolist()]).to(device)
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def evaluate_bpb(model, batch_size=16):
    """Bits per byte on the held-out text; `model(x, y, reduction="none")` gives per-byte losses."""
    device = next(model.parameters()).device
    data = _bytes("val.txt")
    windows = torch.stack([data[i * SEQ_LEN:i * SEQ_LEN + SEQ_LEN + 1]
                           for i in range(EVAL_WINDOWS)]).to(device)
    model.eval()
    total, count = 0.0, 0
    for i in range(0, EVAL_WINDOWS, batch_size):
        rows = windows[i:i + batch_size]
        losses = model(rows[:, :-1], rows[:, 1:], reduction="none")
        total += float(losses.float().sum())
        count += losses.numel()
    return total / count / math.log(2)
