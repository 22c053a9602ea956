"""Flash-attention forward in Triton: scores never leave the chip; an online softmax keeps a
running max and sum per query row; key blocks outside the causal (and window) range are
skipped entirely."""
import math

import torch
import torch.nn as nn
import triton
import triton.language as tl

WINDOW = 512  # set by the harness for each shape; 0 means plain causal


@triton.jit
def _flash(q_ptr, k_ptr, v_ptr, o_ptr, S, qk_scale, window, stride_bh, stride_s,
           BM: tl.constexpr, BN: tl.constexpr, D: tl.constexpr, HAS_WINDOW: tl.constexpr):
    pid_m = tl.program_id(0)
    base = tl.program_id(1).to(tl.int64) * stride_bh
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_d = tl.arange(0, D)
    q = tl.load(q_ptr + base + offs_m[:, None] * stride_s + offs_d[None, :],
                mask=offs_m[:, None] < S, other=0.0)
    m_i = tl.full((BM,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BM,), dtype=tl.float32)
    acc = tl.zeros((BM, D), dtype=tl.float32)
    hi = tl.minimum((pid_m + 1) * BM, S)
    lo = 0
    if HAS_WINDOW:
        lo = tl.maximum(0, pid_m * BM - window + 1)
        lo = (lo // BN) * BN
    for start in range(lo, hi, BN):
        cols = start + offs_n
        k = tl.load(k_ptr + base + cols[None, :] * stride_s + offs_d[:, None],
                    mask=cols[None, :] < S, other=0.0)
        qk = tl.dot(q, k) * qk_scale
        visible = cols[None, :] <= offs_m[:, None]
        if HAS_WINDOW:
            visible = visible & (cols[None, :] > offs_m[:, None] - window)
        qk = tl.where(visible, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, axis=1))
        # A row with nothing visible yet keeps m = -inf; use 0 there so exp2 gives 0, not NaN.
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.math.exp2(qk - m_safe[:, None])
        alpha = tl.math.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_ptr + base + cols[:, None] * stride_s + offs_d[None, :],
                    mask=cols[:, None] < S, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(o_ptr + base + offs_m[:, None] * stride_s + offs_d[None, :],
             out.to(o_ptr.dtype.element_ty), mask=offs_m[:, None] < S)


class ModelNew(nn.Module):
    def forward(self, q, k, v):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        b, h, s, d = q.shape
        o = torch.empty_like(q)
        bm, bn = 128, 64
        grid = (triton.cdiv(s, bm), b * h)
        # exp2 instead of exp: fold log2(e) into the scale.
        _flash[grid](q, k, v, o, s, 1.4426950408889634 / math.sqrt(d), WINDOW,
                     q.stride(1), q.stride(2), BM=bm, BN=bn, D=d, HAS_WINDOW=bool(WINDOW),
                     num_warps=4, num_stages=3)
        return o
