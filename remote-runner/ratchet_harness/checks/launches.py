"""Kernel launches per call. A candidate that returns a result without launching any compute
kernel did not compute it: the answer was cached, precomputed or computed elsewhere. The calls
are recorded with torch.profiler (CUPTI activity tracing, which reads and changes nothing on
the GPU); a marker kernel (torch.cuda._sleep) after each call splits the trace into calls.
Copies and memsets are counted apart: they move data but compute nothing."""

MARKER = "spin_kernel"


def _device_events(prof):
    """[(start, name)] of GPU activities, from whichever event API this torch has."""
    import torch
    found = []
    try:
        for e in prof.profiler.kineto_results.events():
            if e.device_type() == torch.autograd.DeviceType.CUDA:
                start = e.start_ns() if hasattr(e, "start_ns") else e.start_us() * 1000
                found.append((start, e.name()))
        if found:
            return found
    except Exception:  # noqa: BLE001 - fall back to the FunctionEvent view
        found = []
    for e in prof.events():
        if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA:
            found.append((e.time_range.start, e.name))
    return found


def classify(names):
    counts = {"kernels": 0, "memcpy": 0, "memset": 0}
    for name in names:
        low = name.lower()
        if low.startswith("memcpy"):
            counts["memcpy"] += 1
        elif low.startswith("memset"):
            counts["memset"] += 1
        else:
            counts["kernels"] += 1
    return counts


def split_calls(events, calls):
    """Split time-ordered (start, name) events at marker kernels into per-call name lists.
    None when the markers are not where they should be (then only totals are meaningful)."""
    events = sorted(events)
    per_call, current = [], []
    for _, name in events:
        if MARKER in name:
            per_call.append(current)
            current = []
        else:
            current.append(name)
    if len(per_call) != calls or current:
        return None
    return per_call


def count(calls, synchronize):
    """Run each zero-argument callable once under the profiler; return a list of per-call
    {kernels, memcpy, memset, names}, or a dict {"problem": ...}."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    if not hasattr(torch.cuda, "_sleep"):
        return {"problem": "torch.cuda._sleep is missing: no marker kernel"}
    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for call in calls:
                call()
                synchronize()
                torch.cuda._sleep(1000)
                synchronize()
        events = _device_events(prof)
    except Exception as exc:  # noqa: BLE001
        return {"problem": "profiler failed: %s: %s" % (type(exc).__name__, str(exc)[:200])}
    split = split_calls(events, len(calls))
    if split is None:
        return {"problem": "could not split %d GPU activities into %d calls" % (
            len(events), len(calls))}
    result = []
    for names in split:
        entry = classify(names)
        entry["names"] = sorted(set(n[:80] for n in names))[:5]
        result.append(entry)
    return result


def suspicious(reference_counts, candidate_counts):
    """Candidate calls that launched no compute kernel while the reference did."""
    if not reference_counts or reference_counts[0]["kernels"] == 0:
        return []
    return [i for i, c in enumerate(candidate_counts) if c["kernels"] == 0]
