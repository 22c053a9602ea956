"""A small GPT trained on bytes for a fixed time budget (prepare.TIME_BUDGET), then evaluated by
prepare.evaluate_bpb. The knobs below are for a search to tune."""

import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import SEQ_LEN, TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, get_batch

LEARNING_RATE = 0.0006
WEIGHT_DECAY = 0.1
WARMUP_STEPS = 20
BATCH_SIZE = 32
N_LAYER = 4
N_HEAD = 4
N_EMBD = 256

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SMALL = os.environ.get("GPT_SMALL") == "1"   # a tiny model for a CPU rehearsal


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def attend(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
            att = att.masked_fill(torch.ones(t, t, device=x.device).triu(1).bool(), float("-inf"))
            y = att.softmax(-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, layers, heads, width):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB_SIZE, width)
        self.positions = nn.Embedding(SEQ_LEN, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB_SIZE, bias=False)

    def forward(self, idx, targets=None, reduction="mean"):
        t = idx.shape[1]
        x = self.tokens(idx) + self.positions(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.norm(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, VOCAB_SIZE), targets.reshape(-1), reduction=reduction)
        return loss if reduction == "mean" else loss.view(targets.shape)


def main():
    seed = int(os.environ.get("RATCHET_SEED", "0"))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    layers, width = (1, 64) if SMALL else (N_LAYER, N_EMBD)
    model = GPT(layers, N_HEAD, width).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if DEVICE == "cuda" else torch.autocast("cpu", enabled=False)
    budget = TIME_BUDGET if not SMALL else min(TIME_BUDGET, 3)

    step, trained = 0, 0.0
    while trained < budget:
        started = time.time()
        lr = LEARNING_RATE * min(1.0, (step + 1) / WARMUP_STEPS)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(BATCH_SIZE, generator, DEVICE)
        with autocast:
            loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        trained += time.time() - started
        step += 1

    val_bpb = evaluate_bpb(model)
    print("---")
    print(f"num_steps: {step}")
    print(f"training_seconds: {trained:.1f}")
    print(f"train_loss: {loss.item():.4f}")
    print(f"val_bpb: {val_bpb:.6f}")


if __name__ == "__main__":
    main()
