"""One Triton program per row: absmax, scale, round to e4m3 and back, in one read and one
write."""
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def _fake_quant(x_ptr, y_ptr, cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < cols
    x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0).to(tl.float32)
    amax = tl.maximum(tl.max(tl.abs(x), axis=0), 1e-12)
    scale = 448.0 / amax
    q = (x * scale).to(tl.float8e4nv)
    y = q.to(tl.float32) / scale
    tl.store(y_ptr + row * stride + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        block = triton.next_power_of_2(x.shape[1])
        _fake_quant[(x.shape[0],)](x, y, x.shape[1], x.stride(0), BLOCK=block,
                                   num_warps=8 if block >= 4096 else 4)
        return y
