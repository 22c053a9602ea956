"""Fill the allocator's free blocks with NaN before the candidate runs, so an output it never
writes (torch.empty that happens to hold the reference's answer from a freed block) is NaN and
fails, instead of passing on stale memory."""


def fill_poison(t):
    """Fill a tensor with a value no honest computation leaves there: NaN for floats (through a
    byte view for 1-byte floats, 0x7F being NaN in both fp8 formats), True for bool, -1 for
    other integers."""
    import torch
    if t.is_floating_point() and t.element_size() > 1:
        t.fill_(float("nan"))
    elif t.is_floating_point():
        t.view(torch.uint8).fill_(0x7F)
    elif t.dtype == torch.bool:
        t.fill_(True)
    else:
        t.fill_(-1)
    return t


def poison_free_blocks(like, device):
    import torch
    holders = []
    for t in like:
        if not isinstance(t, torch.Tensor):
            continue
        # Same size and dtype as each output, twice over, so the blocks a same-sized
        # torch.empty would get are the ones we fill.
        for _ in range(2):
            holders.append(fill_poison(torch.empty(t.shape, dtype=t.dtype, device=device)))
    if device.startswith("cuda") if isinstance(device, str) else device.type == "cuda":
        torch.cuda.synchronize()
    del holders
