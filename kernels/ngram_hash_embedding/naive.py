"""Starting point: the three lookups with F.embedding, summed in float32."""
import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, D = 16, 2048, 768  # set by the harness for each shape
V, NB, NT = 50304, 131072, 131072
MULT = 1000003


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Parameter((0.02 * torch.randn(V, D)).to(torch.bfloat16))
        self.bigram = nn.Parameter((0.02 * torch.randn(NB, D)).to(torch.bfloat16))
        self.trigram = nn.Parameter((0.02 * torch.randn(NT, D)).to(torch.bfloat16))

    def forward(self, idx):
        prev = F.pad(idx[:, :-1], (1, 0))
        prev2 = F.pad(idx[:, :-2], (2, 0))
        h2 = (prev * MULT + idx) % NB
        h3 = ((prev2 * MULT + prev) * MULT + idx) % NT
        out = F.embedding(idx, self.tok).float() + F.embedding(h2, self.bigram).float() \
            + F.embedding(h3, self.trigram).float()
        return out.to(self.tok.dtype)
