"""Data and evaluation for the charlm example: the part of the task a search must not change.

`evaluate_bpb` is the metric. The task file protects this module and names it as the task's
evaluation, so Ratchet's harness captures the value it returns inside each run: that value is the
result, whatever the training script prints. The held-out text is read only here, and the model
is handed nothing but the characters before each position it predicts.
"""

import math
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
HISTORY = 8   # characters of history the model is given per prediction (its context is at most 6)


def _read(name):
    return (DATA_DIR / name).read_text(encoding="ascii")


def _vocabulary(train_text):
    return {ch: i for i, ch in enumerate(sorted(set(train_text)))}


def load_data():
    """The training text as character ids, and the vocabulary size. The vocabulary is the training
    text's characters (the held-out text uses no others), so training never reads held-out text."""
    train_text = _read("train.txt")
    index = _vocabulary(train_text)
    return [index[c] for c in train_text], len(index)


def evaluate_bpb(model):
    """Mean bits per character of the model's predictions over the held-out text."""
    index = _vocabulary(_read("train.txt"))
    ids = [index[c] for c in _read("val.txt")]
    total = 0.0
    for pos in range(len(ids)):
        p = model.next_char_probs(ids[max(0, pos - HISTORY):pos])
        total -= math.log2(max(p[ids[pos]], 1e-300))
    return total / len(ids)
