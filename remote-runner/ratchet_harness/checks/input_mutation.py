"""Inputs must be unchanged by a call: a candidate that writes its result into an input (or
scales it in place) corrupts the next caller's data and can make a later comparison lie. The one
exception is an input the task's own reference updates in place (e.g. an `index_add_` into an
accumulation buffer, as some SOL-ExecBench problems do): a candidate may update that one too."""


def snapshot(inputs):
    import torch
    return [t.detach().clone() if isinstance(t, torch.Tensor) else t for t in inputs]


def checksum(tensor):
    t = tensor.detach()
    if t.is_floating_point():
        return float(t.to(dtype=__import__("torch").float64).abs().sum().item())
    return int(t.long().sum().item())


def changed(inputs, before):
    """Indices of inputs that differ bit for bit from the snapshot, with evidence."""
    import torch
    found = []
    for i, (now, then) in enumerate(zip(inputs, before)):
        if isinstance(now, torch.Tensor):
            same = now.shape == then.shape and now.dtype == then.dtype
            if same and now.element_size() == 1 and now.is_floating_point():
                # float8 has no equality kernel everywhere: compare the bytes.
                same = torch.equal(now.view(torch.uint8), then.view(torch.uint8))
            elif same:
                same = torch.equal(now, then)
            if not same:
                found.append({"input": i, "checksum_before": checksum(then),
                              "checksum_after": checksum(now)})
    return found


def reference_updates(run_reference, inputs):
    """Runs the reference on a copy of `inputs`; returns its output and the indices of the inputs
    it changed in place (the task's own semantics, so not held against a candidate)."""
    probe = snapshot(inputs)
    out = run_reference(probe)
    return out, {f["input"] for f in changed(probe, inputs)}


def not_exempt(found, exempt):
    """The changes in `found` to inputs other than those the reference itself updates."""
    return [f for f in found if f["input"] not in exempt]
