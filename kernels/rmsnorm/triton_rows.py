"""One Triton program per row: read once, sum of squares in float32 registers, write once."""
import torch
import torch.nn as nn
import triton
import triton.language as tl

rows, cols = 8192, 4096  # set by the harness for each shape


@triton.jit
def _rmsnorm(x_ptr, w_ptr, y_ptr, cols, stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < cols
    x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0).to(tl.float32)
    rms = tl.rsqrt(tl.sum(x * x, axis=0) / cols + eps)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + row * stride + offs, (x * rms * w).to(y_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter((1 + 0.1 * torch.randn(cols)).to(torch.bfloat16))

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        block = triton.next_power_of_2(x.shape[1])
        _rmsnorm[(x.shape[0],)](x, self.weight, y, x.shape[1], x.stride(0), 1e-6, BLOCK=block,
                                num_warps=8 if block >= 4096 else 4)
        return y
