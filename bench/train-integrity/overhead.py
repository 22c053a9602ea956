"""What the harness's instrumentation costs a training run, measured side by side: a task run
through the harness in train mode alternately with and without instrumentation, pairs interleaved
(and their order alternated) so both see the same machine. Also reports the causality probe's own
time against the evaluation's.

    python3 bench/train-integrity/overhead.py REPO [--pairs 5] [--steps 400] [--python python3]

REPO holds a task file with "evaluate" (the GPT task of setup.py, or examples/charlm). With
--steps, the GPT task's time-budgeted loop runs that many steps instead, so both sides do the same
work. Prints a table and the median ratio; writes the measurements as JSON with --out.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "remote-runner")


def task_copy(repo, steps):
    """A copy of the task; with `steps`, its training loop runs that many steps, not a time budget."""
    folder = tempfile.mkdtemp(prefix="ratchet-overhead-")
    shutil.copytree(repo, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git", ".ratchet"))
    if steps:
        path = os.path.join(folder, "train.py")
        text = open(path).read()
        assert "while trained < budget:" in text
        open(path, "w").write(text.replace("while trained < budget:", "while step < %d:" % steps))
    return folder


def run(folder, python, instrumented, seed):
    task = json.load(open(os.path.join(folder, "ratchet.task.json")))
    args = [python, "-m", "ratchet_harness", "train", "--experiment-id", "overhead", "--budget-seconds", "600",
            "--cwd", folder, "--seed", str(seed), "--metric", task["metric"]["name"], "--protect", "prepare.py", "data"]
    args += ["--env=%s=%s" % item for item in sorted(task.get("env", {}).items())]
    if instrumented:
        args += ["--evaluate=./%s" % task["evaluate"]]
        args += ["--evaluation-only=./%s" % p for p in task.get("evaluationOnly", [])]
    else:
        args += ["--no-instrument"]
    env = dict(os.environ, PYTHONPATH=RUNNER)
    started = time.monotonic()
    out = subprocess.run(args + ["--", "%s train.py" % python], capture_output=True, text=True, env=env).stdout
    wall = time.monotonic() - started
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    end = events[-1]
    result = {"instrumented": instrumented, "wall_seconds": wall, "harness_wall_seconds": end["wall_seconds"],
              "reason": end["reason"]}
    for e in events:
        if e["type"] == "metric" and e["name"] == task["metric"]["name"]:
            result["value_" + e["source"]] = e["value"]
            if e["source"] == "evaluator":
                result["evaluator_seconds"] = e.get("evaluator_seconds")
        if e["type"] == "audit" and e["check"] == "causality":
            result["probe_seconds"] = e["evidence"].get("seconds")
            result["probe_verdict"] = e["verdict"]
        if e["type"] == "audit" and e["verdict"] == "fail":
            result.setdefault("failed_checks", []).append(e["check"])
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("repo")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    folder = task_copy(args.repo, args.steps)
    rows = []
    try:
        run(folder, args.python, True, 0)  # warm the machine (caches, CUDA context) once, unrecorded
        for pair in range(args.pairs):
            # Alternate which goes first, so a drift of the machine does not favour one side.
            order = (True, False) if pair % 2 == 0 else (False, True)
            for instrumented in order:
                rows.append(dict(run(folder, args.python, instrumented, pair), pair=pair))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    on = [r["harness_wall_seconds"] for r in rows if r["instrumented"]]
    off = [r["harness_wall_seconds"] for r in rows if not r["instrumented"]]
    ratios = [a["harness_wall_seconds"] / b["harness_wall_seconds"] for a, b in
              (([r for r in rows if r["pair"] == p and r["instrumented"]][0], [r for r in rows if r["pair"] == p and not r["instrumented"]][0]) for p in range(args.pairs))]
    probes = [r["probe_seconds"] for r in rows if r.get("probe_seconds") is not None]
    evals = [r["evaluator_seconds"] for r in rows if r.get("evaluator_seconds") is not None]
    print("pair  instrumented  wall s   metric (evaluator / printed)   probe s  failed checks")
    for r in rows:
        print("%4d  %-12s  %7.3f  %s / %s   %s  %s" % (
            r["pair"], "yes" if r["instrumented"] else "no", r["harness_wall_seconds"],
            r.get("value_evaluator", "-"), r.get("value_output", "-"), r.get("probe_seconds", "-"),
            ",".join(r.get("failed_checks", [])) or "-"))
    summary = {
        "steps": args.steps, "pairs": args.pairs,
        "median_wall_instrumented": statistics.median(on), "median_wall_plain": statistics.median(off),
        "median_pair_ratio": statistics.median(ratios), "pair_ratios": ratios,
        "median_probe_seconds": statistics.median(probes) if probes else None,
        "median_evaluator_seconds": statistics.median(evals) if evals else None,
    }
    print("median wall: instrumented %.3f s, plain %.3f s; median ratio of pairs %.4f (%+.2f%%)" % (
        summary["median_wall_instrumented"], summary["median_wall_plain"], summary["median_pair_ratio"],
        100 * (summary["median_pair_ratio"] - 1)))
    if probes:
        print("causality probe: median %.4f s, inside an evaluation call of median %.4f s" % (
            summary["median_probe_seconds"], summary["median_evaluator_seconds"]))
    if args.out:
        json.dump({"summary": summary, "runs": rows}, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
