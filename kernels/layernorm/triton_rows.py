"""One Triton program per row: read once, mean and variance in float32 registers, write once."""
import torch
import torch.nn as nn
import triton
import triton.language as tl

rows, cols = 8192, 4096  # set by the harness for each shape


@triton.jit
def _layernorm(x_ptr, w_ptr, b_ptr, y_ptr, cols, stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < cols
    x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / cols
    d = tl.where(mask, x - mean, 0.0)
    var = tl.sum(d * d, axis=0) / cols
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = d * tl.rsqrt(var + eps) * w + b
    tl.store(y_ptr + row * stride + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))
        self.bias = nn.Parameter((0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        block = triton.next_power_of_2(x.shape[1])
        _layernorm[(x.shape[0],)](x, self.weight, self.bias, y, x.shape[1], x.stride(0), 1e-5,
                                  BLOCK=block, num_warps=8 if block >= 4096 else 4)
        return y
