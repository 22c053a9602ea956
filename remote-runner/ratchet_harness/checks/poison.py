"""Fill the allocator's free blocks with NaN before the candidate runs, so an output it never
writes (torch.empty that happens to hold the reference's answer from a freed block) is NaN and
fails, instead of passing on stale memory."""


def poison_free_blocks(like, device):
    import torch
    holders = []
    for t in like:
        if not isinstance(t, torch.Tensor):
            continue
        # Same size and dtype as each output, twice over, so the blocks a same-sized
        # torch.empty would get are the ones we fill.
        for _ in range(2):
            block = torch.empty(t.shape, dtype=t.dtype, device=device)
            if block.is_floating_point():
                block.fill_(float("nan"))
            else:
                block.fill_(-1 if block.dtype != torch.bool else True)
            holders.append(block)
    if device.startswith("cuda") if isinstance(device, str) else device.type == "cuda":
        torch.cuda.synchronize()
    del holders
