"""Correctness against a float64 ground truth, and precision compared with the reference's own
error: a candidate that silently computes in a lower precision than the task's dtype has an
error many times the reference's, even when it stays inside a loose tolerance."""

from .output_type import flatten


def compare(output, truth, reference, atol, rtol, unit_roundoff, precision_factor,
            min_match_fraction=1.0, max_error_cap=None):
    """Return a dict: ok, reason (None when ok), and the error figures as evidence.
    min_match_fraction: share of elements that must be inside the tolerance. Two honest
    half-precision computations of a large output can differ by a rounding step on a handful
    of elements sitting on the edge; NaN, Inf and all-zero outputs fail regardless.
    max_error_cap (SOL-ExecBench's field of that name): no element may be further off than
    this, whatever the matched share."""
    import torch
    outs, truths, refs = flatten(output), flatten(truth), flatten(reference)
    if len(outs) != len(refs):
        return {"ok": False, "reason": "returned %d outputs, reference %d" % (len(outs), len(refs))}
    worst = {"ok": True, "reason": None, "max_abs_error": 0.0, "rel_error": 0.0,
             "reference_rel_error": 0.0, "mismatch_fraction": 0.0}
    for i, (out, tru, ref) in enumerate(zip(outs, truths, refs)):
        if not isinstance(out, torch.Tensor):
            return {"ok": False, "reason": "output %d is not a tensor" % i}
        if tuple(out.shape) != tuple(ref.shape):
            return {"ok": False, "reason": "output %d shape %s, expected %s" % (
                i, tuple(out.shape), tuple(ref.shape))}
        if out.dtype != ref.dtype:
            return {"ok": False, "reason": "output %d dtype %s, expected %s" % (
                i, out.dtype, ref.dtype)}
        o = out.detach().to(torch.float64)
        t = tru.detach().to(device=o.device, dtype=torch.float64)
        r = ref.detach().to(device=o.device, dtype=torch.float64)
        if not bool(torch.isfinite(o).all()) and bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(o)).sum())
            return {"ok": False, "reason": "output %d has %d NaN/Inf values" % (i, bad)}
        if o.numel() and not bool(o.any()) and bool(t.any()):
            return {"ok": False, "reason": "output %d is all zero" % i}
        diff = (o - t).abs()
        allowed = atol + rtol * t.abs()
        mismatch = float((diff > allowed).double().mean()) if o.numel() else 0.0
        norm = float(t.norm()) or 1.0
        rel = float((o - t).norm()) / norm
        ref_rel = float((r - t).norm()) / norm
        worst["max_abs_error"] = max(worst["max_abs_error"], float(diff.max()) if o.numel() else 0.0)
        worst["rel_error"] = max(worst["rel_error"], rel)
        worst["reference_rel_error"] = max(worst["reference_rel_error"], ref_rel)
        worst["mismatch_fraction"] = max(worst["mismatch_fraction"], mismatch)
        if max_error_cap is not None and o.numel() and float(diff.max()) > max_error_cap:
            worst.update(ok=False, reason="output %d: an error of %.4g exceeds the cap %g"
                         % (i, float(diff.max()), max_error_cap))
            return worst
        if mismatch > 1.0 - min_match_fraction:
            worst.update(ok=False, reason="output %d: %.4g%% of elements outside atol=%g rtol=%g"
                         % (i, 100 * mismatch, atol, rtol))
            return worst
    worst["precision_limit"] = precision_factor * max(worst["reference_rel_error"], unit_roundoff)
    worst["precision_ok"] = worst["rel_error"] <= worst["precision_limit"]
    return worst
