"""Timing done the careful way, in the spirit of triton.testing.do_bench:
- warm-up calls first, so compilation, autotuning and allocation stay out of the numbers;
- a fresh set of inputs per call, rotating through several sets at different addresses, so an
  output cache keyed on the input cannot answer and the timed outputs can be checked after;
- the L2 cache flushed before each call by writing a buffer larger than it, so every call
  reads its inputs from memory, as in a real model where other kernels ran in between;
- CUDA events around each call, a round queued back to back and read after a full device
  synchronise (all streams), then a short cross-check pass that times each call alone by the
  host clock to the end of a full synchronise (see checks/unsynced.py);
- the median of many calls per round, several rounds, and the spread of the round medians.
The timer functions used are those captured before the candidate was imported."""

import gc
import statistics

FLUSH_BYTES = 256 * 1024 * 1024  # larger than any current L2 (H100 50 MB, B200 126 MB)


class Timers:
    """Timer functions captured at worker start, before any candidate code runs."""

    def __init__(self):
        import time
        import torch
        self.perf_counter = time.perf_counter
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            self.Event = torch.cuda.Event
            self.synchronize = torch.cuda.synchronize
            self.elapsed_time = torch.cuda.Event.elapsed_time
            self.record = torch.cuda.Event.record


def quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def measure(call, input_sets, timers, device, warmup=10, iterations=50, rounds=1):
    """Return {rounds_ms, median_ms, ..., gap_ms, outputs}. `outputs[k]` is the last output
    produced from input_sets[k] during timing, for the timed-output check."""
    import torch
    on_cuda = device.startswith("cuda") and timers.cuda
    # A garbage-collection pause inside a timed call is noise, not the candidate's cost.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _measure(call, input_sets, timers, device, warmup, iterations, rounds, on_cuda)
    finally:
        if was_enabled:
            gc.enable()


def _measure(call, input_sets, timers, device, warmup, iterations, rounds, on_cuda):
    import torch
    flush = torch.empty(FLUSH_BYTES if on_cuda else 1, dtype=torch.int8, device=device)
    count = len(input_sets)
    outputs = [None] * count
    for i in range(warmup):
        outputs[i % count] = call(input_sets[i % count])
    if on_cuda:
        timers.synchronize()
    all_ms, medians = [], []
    index = 0
    for _ in range(rounds):
        if on_cuda:
            # Queue the whole round without waiting: the flush before each call keeps the GPU
            # busy while Python launches the next call, so the events measure GPU time, not
            # the host's launch jitter. One synchronise (all streams) ends the round.
            starts = [timers.Event(enable_timing=True) for _ in range(iterations)]
            ends = [timers.Event(enable_timing=True) for _ in range(iterations)]
            for i in range(iterations):
                k = index % count
                index += 1
                flush.zero_()
                timers.record(starts[i])
                outputs[k] = call(input_sets[k])
                timers.record(ends[i])
            timers.synchronize()
            round_ms = [timers.elapsed_time(s, e) for s, e in zip(starts, ends)]
        else:
            round_ms = []
            for _ in range(iterations):
                k = index % count
                index += 1
                host0 = timers.perf_counter()
                outputs[k] = call(input_sets[k])
                round_ms.append((timers.perf_counter() - host0) * 1e3)
        medians.append(statistics.median(round_ms))
        all_ms.extend(round_ms)
    gaps_ms = []
    if on_cuda:
        # Cross-check pass for checks/unsynced.py: each call alone on an idle device, timed by
        # events and by the host clock up to a full synchronise. Work the call left running on
        # another stream or thread shows up only in the host reading.
        for _ in range(min(20, iterations)):
            k = index % count
            index += 1
            flush.zero_()
            start, end = timers.Event(enable_timing=True), timers.Event(enable_timing=True)
            timers.synchronize()
            host0 = timers.perf_counter()
            timers.record(start)
            outputs[k] = call(input_sets[k])
            timers.record(end)
            timers.synchronize()
            host_ms = (timers.perf_counter() - host0) * 1e3
            gaps_ms.append(host_ms - timers.elapsed_time(start, end))
    return {
        "clock": "cuda_events" if on_cuda else "perf_counter",
        "rounds_ms": medians,
        "median_ms": statistics.median(medians),
        "min_ms": min(all_ms),
        "max_ms": max(all_ms),
        "q20_ms": quantile(all_ms, 0.2),
        "q80_ms": quantile(all_ms, 0.8),
        "spread": (max(medians) / min(medians) - 1.0) if min(medians) > 0 else None,
        "iterations": iterations,
        "gap_ms": statistics.median(gaps_ms) if gaps_ms else 0.0,
        "outputs": outputs,
    }
