"""Runs every kernel task's candidates and every cheating fixture through the harness on this
machine's GPU, and writes the events and a summary. Usage:
  python3 bench/kernels/run_all.py --out DIR [--tasks a,b] [--fixtures] [--repeats 10]"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "remote-runner")
KERNELS = os.path.join(ROOT, "kernels")
FIXTURES = os.path.join(RUNNER, "tests", "fixtures", "kernel")

# What each fixture must produce: None = every check passes; else the check that must fail.
FIXTURE_EXPECT = {
    "honest_naive": None, "honest_triton": None,
    "cheat_wrong_math": "correctness", "cheat_low_precision": "precision",
    "cheat_edits_input": "input_mutation", "cheat_caches_last_call": "state",
    "cheat_degrades_when_timed": "timed_outputs", "cheat_empty_output": "correctness",
    "cheat_lazy_subclass": "output_type", "cheat_patches_timer": "monkeypatch",
    "cheat_background_thread": "threads", "cheat_calls_reference": "static",
    "cheat_library_call": "static", "cheat_side_stream": "unsynced_work",
    "cheat_cached_answer": "launches", "cheat_l2_persist": "l2_persistence",
    "cheat_exact_shapes": "perturbed_shapes",
}


# Checks made by the check worker or statically, before any timing.
CHECK_PHASE = {"correctness", "precision", "input_mutation", "state", "output_type", "static",
               "launches", "l2_persistence", "perturbed_shapes", "threads"}


def harness(args, events_out, label, timeout):
    env = dict(os.environ, PYTHONPATH=RUNNER, PYTHONUNBUFFERED="1")
    started = time.time()
    try:
        proc = subprocess.run([sys.executable, "-m", "ratchet_harness"] + args, env=env,
                              capture_output=True, text=True, timeout=timeout)
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out, err = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), "timeout"
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    with open(events_out, "a") as handle:
        for e in events:
            e["bench_label"] = label
            handle.write(json.dumps(e) + "\n")
    if err.strip():
        sys.stderr.write("[%s] stderr tail: %s\n" % (label, err.strip()[-1500:]))
    return events, time.time() - started


def audits(events):
    result = {}
    for e in events:
        if e["type"] == "audit" and result.get(e["check"]) != "fail":
            result[e["check"]] = e["verdict"]
    return result


def sm_clock_range(timing):
    """[min, max] SM clock (MHz) of a timing event's round samples, or None."""
    clocks = [c.get("sm_mhz") for c in timing.get("round_clocks") or [] if c.get("sm_mhz")]
    return [min(clocks), max(clocks)] if clocks else None


def summarize_task(events):
    timings = [e for e in events if e["type"] == "timing"]
    shapes = {}
    for t in timings:
        rounds = t["rounds_ms"]
        every = t.get("all_rounds_ms") or rounds
        row = shapes.setdefault(t["shape"], {})
        row[t["role"]] = {"median_ms": t["median_ms"], "sol_ms": t.get("sol_ms"),
                          "spread_max_over_min": (max(rounds) / min(rounds)) if rounds else None,
                          "spread_all_max_over_min": (max(every) / min(every)) if every else None,
                          "rounds": len(rounds), "rounds_measured": len(every),
                          "discarded_rounds": t.get("discarded_rounds") or [],
                          "iterations": t["iterations"], "warmup_calls": t.get("warmup_calls"),
                          "warmup_stable": t.get("warmup_stable"),
                          "clock_capped": t.get("clock_capped"),
                          "round_ms_target": t.get("min_round_ms"),
                          "flush_bytes": t.get("flush_bytes"),
                          "sm_mhz_min_max": sm_clock_range(t),
                          "control_median_ms": t.get("control_median_ms"),
                          "control_spread": t.get("control_spread"),
                          "paired_ratio": t.get("paired_ratio"),
                          "hold_reasons": t.get("hold_reasons") or [],
                          "hold_ms": t.get("hold_ms"), "host_ms": t.get("host_ms"),
                          "respaced_after_cap": t.get("respaced_after_cap")}
    for m in events:
        if m["type"] == "metric" and m["name"] == "sol_score" and m.get("shape"):
            shapes.setdefault(m["shape"], {})["score"] = m["value"]
        if m["type"] == "metric" and m["name"] == "sol_score_vs_reference" and m.get("shape"):
            shapes.setdefault(m["shape"], {})["score_vs_reference"] = m["value"]
    total = [m["value"] for m in events if m["type"] == "metric" and m["name"] == "sol_score"
             and not m.get("shape")]
    end = events[-1] if events else {}
    return {"shapes": shapes, "sol_score": total[0] if total else None,
            "failed_checks": sorted(c for c, v in audits(events).items() if v == "fail"),
            "warned_checks": sorted(c for c, v in audits(events).items() if v == "warn"),
            "skipped_checks": sorted(c for c, v in audits(events).items() if v == "skip"),
            "end": end.get("reason"), "message": end.get("message")}


def fixture_evidence(events, check):
    """The audit message of the check a fixture must trip (or of the first failure)."""
    for e in events:
        if e["type"] == "audit" and e["verdict"] == "fail" and (check is None or
                                                                e["check"] == check):
            return "%s: %s" % (e["check"], e["message"][:300])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--tasks", default="")
    p.add_argument("--fixtures", nargs="?", const="all", default=None,
                   help="run the cheating fixtures (all, or a comma-separated list)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--iterations", type=int, default=10,
                   help="calls per round at least (rounds are sized by --min-round-ms)")
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument("--min-round-ms", type=float, default=100.0)
    p.add_argument("--tag", default=None, help="name of the events/summary files")
    p.add_argument("--only-candidates", default="",
                   help="task:candidate,... run only these candidates of the tasks named")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tag = args.tag or ("_".join(args.tasks.split(",")[:1]) if args.tasks else "fixtures")
    events_path = os.path.join(args.out, "events-%s.jsonl" % tag)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "tasks": {}, "fixtures": {}}
    _, probe = harness(["probe", "--experiment-id", "probe"], events_path, "probe", 60), None
    with open(events_path) as handle:
        for line in handle:
            e = json.loads(line)
            if e["type"] == "probe" and e["gpus"]:
                summary["device"] = e["gpus"][0]["name"]
                summary["probe"] = e["gpus"][0]
    if args.fixtures:
        chosen = list(FIXTURE_EXPECT) if args.fixtures == "all" else args.fixtures.split(",")
        for name in chosen:
            expect = FIXTURE_EXPECT[name]
            # Fixtures whose check runs before timing skip it (timing adds nothing there).
            skip = ["--skip-timing"] if expect in CHECK_PHASE else []
            events, secs = harness(["kernel", "--experiment-id", "fx-" + name, "--task", FIXTURES,
                                    "--candidate", os.path.join(FIXTURES, name + ".py"),
                                    "--trials", "3", "--iterations", "30",
                                    "--min-round-ms", "20"] + skip,
                                   events_path, "fixture:" + name, args.timeout)
            failed = sorted(c for c, v in audits(events).items() if v == "fail")
            ok = (failed == []) if expect is None else (expect in failed)
            summary["fixtures"][name] = {"expected": expect or "pass", "failed_checks": failed,
                                         "skipped_checks": sorted(
                                             c for c, v in audits(events).items() if v == "skip"),
                                         "evidence": fixture_evidence(events, expect),
                                         "as_expected": ok, "seconds": round(secs, 1)}
            print("fixture %-28s expected %-14s failed=%s %s" % (
                name, expect or "pass", ",".join(failed) or "-", "OK" if ok else "MISMATCH"),
                flush=True)
            json.dump(summary, open(os.path.join(args.out, "summary-%s.json" % tag), "w"),
                      indent=1)
    for task in [t for t in args.tasks.split(",") if t]:
        spec = json.load(open(os.path.join(KERNELS, task, "task.json")))
        summary["tasks"][task] = {}
        only = [c.split(":")[1] for c in args.only_candidates.split(",")
                if c.startswith(task + ":")]
        for cand, path in spec.get("candidates", {}).items():
            if only and cand not in only:
                continue
            events, secs = harness(["kernel", "--experiment-id", "%s-%s" % (task, cand), "--task",
                                    os.path.join(KERNELS, task), "--candidate", cand,
                                    "--trials", "3", "--repeats", str(args.repeats),
                                    "--iterations", str(args.iterations),
                                    "--min-round-ms", str(args.min_round_ms)],
                                   events_path, "task:%s:%s" % (task, cand), args.timeout)
            s = summarize_task(events)
            s["seconds"] = round(secs, 1)
            summary["tasks"][task][cand] = s
            print("task %-26s %-7s score=%s failed=%s end=%s %.0fs" % (
                task, cand, None if s["sol_score"] is None else round(s["sol_score"], 3),
                ",".join(s["failed_checks"]) or "-", s["end"], secs), flush=True)
            for shape, row in s["shapes"].items():
                ref, c = row.get("reference", {}), row.get("candidate", {})
                print("    %-18s ref %.4f ms  cand %.4f ms  sol %s ms  score %s  spread ref %.4f cand %.4f" % (
                    shape, ref.get("median_ms", float("nan")), c.get("median_ms", float("nan")),
                    None if c.get("sol_ms") is None else round(c["sol_ms"], 4),
                    None if row.get("score") is None else round(row["score"], 3),
                    ref.get("spread_max_over_min") or float("nan"),
                    c.get("spread_max_over_min") or float("nan")), flush=True)
            json.dump(summary, open(os.path.join(args.out, "summary-%s.json" % tag), "w"),
                      indent=1)
    json.dump(summary, open(os.path.join(args.out, "summary-%s.json" % tag), "w"), indent=1)


if __name__ == "__main__":
    main()
