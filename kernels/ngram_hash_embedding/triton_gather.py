"""One Triton program per token: hashes computed in registers, three rows gathered, summed in
float32, one write. No index tensors or partial sums go through memory."""
import torch
import torch.nn as nn
import triton
import triton.language as tl

B, T, D = 16, 2048, 768  # set by the harness for each shape
V, NB, NT = 50304, 131072, 131072
MULT = 1000003


@triton.jit
def _ngram(idx_ptr, tok_ptr, big_ptr, tri_ptr, out_ptr, T, D, NB, NT, MULT: tl.constexpr,
           BLOCK: tl.constexpr):
    pos = tl.program_id(0).to(tl.int64)
    t = pos % T
    cur = tl.load(idx_ptr + pos)
    prev = tl.load(idx_ptr + pos - 1, mask=t >= 1, other=0)
    prev2 = tl.load(idx_ptr + pos - 2, mask=t >= 2, other=0)
    h2 = (prev * MULT + cur) % NB
    h3 = ((prev2 * MULT + prev) * MULT + cur) % NT
    offs = tl.arange(0, BLOCK)
    mask = offs < D
    acc = tl.load(tok_ptr + cur * D + offs, mask=mask, other=0.0).to(tl.float32)
    acc += tl.load(big_ptr + h2 * D + offs, mask=mask, other=0.0).to(tl.float32)
    acc += tl.load(tri_ptr + h3 * D + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + pos * D + offs, acc.to(out_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Parameter((0.02 * torch.randn(V, D)).to(torch.bfloat16))
        self.bigram = nn.Parameter((0.02 * torch.randn(NB, D)).to(torch.bfloat16))
        self.trigram = nn.Parameter((0.02 * torch.randn(NT, D)).to(torch.bfloat16))

    def forward(self, idx):
        idx = idx.contiguous()
        b, t = idx.shape
        d = self.tok.shape[1]
        out = torch.empty((b, t, d), device=idx.device, dtype=self.tok.dtype)
        _ngram[(b * t,)](idx, self.tok, self.bigram, self.trigram, out, t, d,
                         self.bigram.shape[0], self.trigram.shape[0], MULT=MULT,
                         BLOCK=triton.next_power_of_2(d), num_warps=4)
        return out
