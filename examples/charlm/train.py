"""Tiny character-level language model in pure Python (standard library only).

Model: softmax regression over hashed n-gram context features, a.k.a. a
"hashed n-gram embedding" model. To predict the next character we look at the
previous 1, 2, ..., CONTEXT_ORDER characters; each of those contexts is hashed
into one of HASH_BUCKETS rows of a weight table, and each row holds one score
per vocabulary character. The logits are the sum of the selected rows plus a
bias (unigram) vector, and the prediction is their softmax:

    logits[v] = bias[v] + sum_k W[hash(context of length k)][v]
    p = softmax(logits)

It is trained by plain SGD on the cross-entropy loss, one character per step,
at random positions of the training text, with L2 weight decay and a linear
learning-rate decay. Rows are created lazily on first use, so memory and time
depend on the rows actually touched, not on HASH_BUCKETS.

The score is val_bpb: mean bits per character (= per byte; the text is ASCII)
on the held-out validation text, as computed by `evaluate_bpb` in prepare.py (the
protected part of the task, with the data). Lower is better.

Several knobs below are deliberately set badly; tuning them lowers val_bpb.
The work is bounded: SGD steps cost O(CONTEXT_ORDER * vocabulary size) each and
their number is capped by a fixed WORK_BUDGET; the validation text is fixed.
Run: python3 train.py   (seed from the environment variable RATCHET_SEED)
"""

import gc
import math
import os
import random
import time
from itertools import repeat
from operator import mul, sub

from prepare import evaluate_bpb, load_data

# ---------------------------------------------------------------------------
# Hyper-parameters (the knobs a search may tune)
# ---------------------------------------------------------------------------
LEARNING_RATE = 0.01    # SGD step size at the start of training
LR_FINAL_FRAC = 1.0     # learning rate decays linearly to this fraction of LEARNING_RATE (1.0 = constant)
CONTEXT_ORDER = 2       # use the previous 1..CONTEXT_ORDER characters as context features
HASH_BUCKETS = 256      # rows in the hashed feature table (small = many hash collisions)
WEIGHT_DECAY = 0.05     # L2 decay applied to a row each time it is updated
INIT_SCALE = 0.3        # standard deviation of the random initial weights
TRAIN_CHARS = 40_000    # number of SGD steps (one character each); capped by WORK_BUDGET below

# Fixed bounds (not knobs): they keep any setting within a few seconds of CPU.
# A step costs about (CONTEXT_ORDER + 2) vector operations, so the number of steps is
# capped at WORK_BUDGET // (CONTEXT_ORDER + 2): a longer context buys fewer steps.
WORK_BUDGET = 400_000       # e.g. at most 100k steps at order 2, 50k at order 6
MAX_CONTEXT_ORDER = 6       # hard cap on CONTEXT_ORDER


def context_buckets(ids, pos, order, buckets):
    """Bucket numbers of the contexts of length 1..order that end just before ids[pos].

    A deterministic rolling hash modulo the prime 2**61-1 with a large odd multiplier, so that
    any bucket count spreads contexts evenly (Python's own str hash is randomised per process).
    Positions before the start of the text are treated as a special padding symbol.
    """
    out = []
    h = 0
    for k in range(1, order + 1):
        c = ids[pos - k] + 1 if pos - k >= 0 else 0
        h = ((h + c) * 0x9E3779B97F4A7C15 + k) % 2_305_843_009_213_693_951   # mod the prime 2**61-1
        out.append(h % buckets)
    return out


class HashedNgramModel:
    def __init__(self, vocab_size, order, buckets, init_scale, rng):
        self.V = vocab_size
        self.order = order
        self.buckets = buckets
        self.init_scale = init_scale
        self.rng = rng
        self.table = {}               # bucket -> list of V weights, created lazily
        self.bias = [0.0] * vocab_size

    def row(self, b):
        """Weight row of bucket b, created (randomly initialised) on first use, also during eval."""
        r = self.table.get(b)
        if r is None:
            if self.init_scale > 0:
                # uniform in [-a, a] with standard deviation init_scale (cheaper than gauss)
                u, a = self.rng.random, self.init_scale * 3.0 ** 0.5
                r = [a * (2.0 * u() - 1.0) for _ in range(self.V)]
            else:
                r = [0.0] * self.V
            self.table[b] = r
        return r

    def next_char_probs(self, history):
        """Distribution of the next character given the characters before it (the evaluation's call)."""
        return self.probs(context_buckets(history, len(history), self.order, self.buckets))

    def probs(self, bks):
        """Softmax of bias + the rows selected by the context buckets."""
        # (map with operator functions is the fast way to do vector maths in pure Python)
        logits = list(map(sum, zip(self.bias, *[self.row(b) for b in bks])))
        e = list(map(math.exp, map(sub, logits, repeat(max(logits)))))
        return list(map(mul, e, repeat(1.0 / sum(e))))

    def sgd_step(self, bks, target, lr, wd):
        """One SGD step on -log p(target); returns the loss in bits."""
        p = self.probs(bks)
        loss = -math.log2(max(p[target], 1e-300))
        p[target] -= 1.0                      # gradient of cross-entropy w.r.t. logits
        step = list(map(mul, p, repeat(lr)))
        shrink = repeat(1.0 - lr * wd)
        table = self.table
        for b in bks:                          # a repeated bucket is (correctly) updated twice
            if wd:
                table[b] = list(map(sub, map(mul, table[b], shrink), step))
            else:
                table[b] = list(map(sub, table[b], step))
        self.bias = list(map(sub, self.bias, step))
        return loss


def train(model, train_ids, rng):
    steps = max(1, min(int(TRAIN_CHARS), WORK_BUDGET // (model.order + 2)))
    n = len(train_ids)
    tail_loss, tail_count = 0.0, 0
    tail_start = steps - max(1, steps // 10)   # report train loss over the last 10% of steps
    for t in range(steps):
        lr = LEARNING_RATE * (1.0 - (1.0 - LR_FINAL_FRAC) * t / steps)
        pos = rng.randrange(n)                 # random training position: order depends on the seed
        bks = context_buckets(train_ids, pos, model.order, model.buckets)
        loss = model.sgd_step(bks, train_ids[pos], lr, WEIGHT_DECAY)
        if t >= tail_start:
            tail_loss += loss
            tail_count += 1
    return steps, tail_loss / tail_count


def main():
    gc.disable()   # the model makes no reference cycles; the cyclic GC only slows the many small lists
    seed = int(os.environ.get("RATCHET_SEED", "0"))
    rng = random.Random(seed)
    train_ids, vocab_size = load_data()
    order = max(1, min(int(CONTEXT_ORDER), MAX_CONTEXT_ORDER))
    model = HashedNgramModel(vocab_size, order, max(1, int(HASH_BUCKETS)), INIT_SCALE, rng)

    t0 = time.perf_counter()
    steps, train_bpb = train(model, train_ids, rng)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    val_bpb = evaluate_bpb(model)
    eval_seconds = time.perf_counter() - t1

    print("---")
    print(f"seed: {seed}")
    print(f"vocab_size: {vocab_size}")
    print(f"train_chars: {steps}")
    print(f"rows_used: {len(model.table)}")
    print(f"num_params: {len(model.table) * vocab_size + vocab_size}")
    print(f"training_seconds: {train_seconds:.2f}")
    print(f"eval_seconds: {eval_seconds:.2f}")
    print(f"train_bpb: {train_bpb:.4f}")
    print(f"val_bpb: {val_bpb:.4f}")


if __name__ == "__main__":
    main()
