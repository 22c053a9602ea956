"""Side-by-side timing spread with and without the harness's spacing between timed calls
(launch-ahead for host-bound calls, idle gaps under a power cap), in one run on this machine's
GPU. Usage:
  python3 bench/kernels/spacing.py --out DIR [--cases task:candidate:shape,...] [--repeats 10]
Each case runs the harness's kernel mode once per variant; the table gives, per measurement,
the median, the spread (max/min - 1 of the round medians), the SM clocks seen and the wait used."""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_all import KERNELS, harness, sm_clock_range, summarize_task  # noqa: E402

DEFAULT_CASES = ("swiglu_mlp:triton:t4096d2048h5632,matmul_bf16:triton:4096x4096x4096,"
                 "linear_cross_entropy:triton:n8192d2048v32768,"
                 "ngram_hash_embedding:naive:b4t4096d1536,rmsnorm:triton:8192x4096")
VARIANTS = {
    "none": ["--no-launch-ahead", "--power-gap", "0"],
    "default": [],
    "gap2": ["--power-gap", "2"],
}


def timing_rows(events):
    rows = []
    for e in events:
        if e["type"] != "timing":
            continue
        rows.append({"role": e["role"], "median_ms": e["median_ms"], "spread": e.get("spread"),
                     "spread_all": e.get("spread_all"), "capped": e.get("clock_capped"),
                     "sm_mhz": sm_clock_range(e),
                     "host_ms": e.get("host_ms"), "hold_ms": e.get("hold_ms"),
                     "hold_reasons": e.get("hold_reasons"),
                     "unheld_median_ms": e.get("unheld_median_ms")})
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--variants", default="none,default")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--timeout", type=float, default=240)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    events_path = os.path.join(args.out, "events-spacing.jsonl")
    results = []
    for case in [c for c in args.cases.split(",") if c]:
        task, cand, shape = case.split(":")
        for variant in args.variants.split(","):
            events, secs = harness(
                ["kernel", "--experiment-id", "%s-%s-%s" % (task, cand, variant), "--task",
                 os.path.join(KERNELS, task), "--candidate", cand, "--shapes", shape,
                 "--trials", "1", "--repeats", str(args.repeats), "--iterations", "10",
                 "--no-interleave"] + VARIANTS[variant],
                events_path, "spacing:%s:%s" % (case, variant), args.timeout)
            summary = summarize_task(events)
            for row in timing_rows(events):
                row.update(case=case, variant=variant, seconds=round(secs, 1),
                           failed_checks=summary["failed_checks"])
                results.append(row)
                print("%-48s %-8s %-9s %8.4f ms  spread %6.2f%%  host %s ms  hold %s ms %s  "
                      "capped=%s  MHz %s" % (
                          case, variant, row["role"], row["median_ms"],
                          100 * (row["spread"] or 0), None if row["host_ms"] is None else
                          round(row["host_ms"], 4), row["hold_ms"],
                          ",".join(row["hold_reasons"] or []), row["capped"], row["sm_mhz"]),
                      flush=True)
            json.dump(results, open(os.path.join(args.out, "spacing.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
