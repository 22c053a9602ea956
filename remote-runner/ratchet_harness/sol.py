"""Speed-of-light arithmetic, after SOL-ExecBench (arXiv 2603.19173).

T_SOL = max(FLOPs / peak FLOP/s, bytes / peak bandwidth): the roofline floor.
S = 1 / (1 + (T_k - T_SOL) / (T_b - T_SOL)), T_b the scoring baseline measured on the same
machine (here: the task's PyTorch reference), T_k the candidate. S = 0.5 when the candidate
matches the baseline, 1.0 at the hardware limit, towards 0 when slower. The task score is the
mean of S over the task's shapes (SOL-ExecBench averages over workloads)."""

import math


def sol_seconds(flops, bytes_moved, peak_flops, peak_bytes_per_second):
    """Lower bound in seconds, or None when neither term can be computed."""
    terms = []
    if flops and peak_flops:
        terms.append(flops / peak_flops)
    if bytes_moved and peak_bytes_per_second:
        terms.append(bytes_moved / peak_bytes_per_second)
    return max(terms) if terms else None


def bound_kind(flops, bytes_moved, peak_flops, peak_bytes_per_second):
    compute = flops / peak_flops if flops and peak_flops else 0.0
    memory = bytes_moved / peak_bytes_per_second if bytes_moved and peak_bytes_per_second else 0.0
    return "compute" if compute > memory else "memory"


def score(t_candidate, t_baseline, t_sol):
    """SOL score of one shape. None when the baseline is not slower than the bound (the
    formula has no meaning there: the roofline or the peak figures are wrong for this task)."""
    if t_sol is None or t_candidate is None or t_baseline is None:
        return None
    if t_baseline <= t_sol or t_candidate <= 0:
        return None
    return 1.0 / (1.0 + (t_candidate - t_sol) / (t_baseline - t_sol))


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))
