"""Kernel mode's trusted side (standard library only): builds the plan, runs the static check,
starts a `check` worker and then a fresh `time` worker, turns their findings into events, and
computes the roofline, the speed-of-light score and the checks that need both timings."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .. import environment, hashing, peaks, sol
from ..checks import roofline, static_fallback, unsynced
from ..process import CancelFlag, LineReader, kill_group, start_in_group
from . import clocks, taskspec

# Optional timing fields passed from the worker to the `timing` event.
TIMING_EXTRAS = ("all_rounds_ms", "spread_all", "discarded_rounds", "warmup_calls", "warmup_ms",
                 "warmup_stable", "flush_bytes", "min_round_ms", "clock_capped", "round_clocks",
                 "control_rounds_ms", "control_median_ms", "control_spread", "paired_ratio",
                 "clock_capped_spaced", "respaced_after_cap", "host_ms", "hold_ms",
                 "hold_reasons", "unheld_median_ms")
# The interleaved reference may move by this much (or 3x its own spread) before it is reported.
DRIFT_FLOOR = 0.03

RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_plan(args):
    if args.problem:
        plan = taskspec.load_solexec_problem(args.problem)
    elif args.task:
        plan = taskspec.load_task_folder(args.task, spec_path=args.spec)
    elif args.reference and args.spec:
        plan = taskspec.load_task_folder(os.path.dirname(args.spec), spec_path=args.spec,
                                         reference_path=args.reference)
    else:
        raise taskspec.TaskError("give --task FOLDER, --reference FILE --spec FILE, or "
                                 "--problem FOLDER")
    if not args.candidate:
        raise taskspec.TaskError("give --candidate FILE (a file defining ModelNew, or a "
                                 "solution.json with --problem)")
    candidate = args.candidate
    if not os.path.isfile(candidate) and plan.get("task_dir"):
        # A candidate may be named by its key in task.json ("naive", "triton").
        named = plan.get("candidates", {}).get(candidate)
        if named:
            candidate = os.path.join(plan["task_dir"], named)
    if not os.path.isfile(candidate):
        raise taskspec.TaskError("candidate not found: %s" % args.candidate)
    plan["candidate"] = os.path.abspath(candidate)
    if args.shapes:
        wanted = [s.strip() for s in args.shapes.split(",") if s.strip()]
        plan["shapes"] = [s for s in plan["shapes"] if s["name"] in wanted]
        if not plan["shapes"]:
            raise taskspec.TaskError("none of the shapes %s is in the task" % wanted)
    plan["device"] = args.device or "auto"
    cpu = plan["device"] == "cpu"
    plan["trials"] = args.trials or (3 if cpu else 5)
    plan["iterations"] = args.iterations or (5 if cpu else 100)
    plan["warmup"] = args.warmup or (2 if cpu else 10)
    plan["repeats"] = max(1, args.repeats)
    plan["init_seed"] = 42
    # Each run's seed moves every input draw (correctness trials, state and timed sets) by a
    # stride no per-shape offset reaches, so repeated runs check fresh inputs; 0 keeps the task's.
    plan["input_seed"] += 1_000_003 * max(0, getattr(args, "seed", 0) or 0)
    # Rounds sized by measured time (GPU): see PROTOCOL.md, "Timing".
    plan["min_round_ms"] = 0.0 if cpu else float(args.min_round_ms)
    plan["interleave"] = not cpu and not args.no_interleave
    plan["launch_ahead"] = not getattr(args, "no_launch_ahead", False)
    plan["power_gap"] = getattr(args, "power_gap", None)
    if getattr(args, "baseline", None):
        if not os.path.isfile(args.baseline):
            raise taskspec.TaskError("baseline not found: %s" % args.baseline)
        plan["baseline"] = os.path.abspath(args.baseline)
    if getattr(args, "no_baseline", False):
        plan["baseline"] = None
    return plan


class WorkerRun:
    """One worker process: its stdout/stderr become log events (capped), its findings come
    from a result file only the harness reads back."""

    def __init__(self, emitter, cancel, phase, plan_path, timeout, gpu, max_log_bytes=1 << 20,
                 extra_env=None, scrub_env=()):
        self.emitter, self.cancel, self.phase = emitter, cancel, phase
        self.plan_path, self.timeout, self.gpu = plan_path, timeout, gpu
        self.extra_env = dict(extra_env or {})
        self.scrub_env = tuple(scrub_env or ())
        self.max_log_bytes = max_log_bytes
        self.log_bytes = 0
        self.reason = None

    def _on_line(self, stream, text, _complete):
        self.log_bytes += len(text) + 1
        if self.log_bytes <= self.max_log_bytes:
            self.emitter.log(stream, text, phase=self.phase)

    def run(self):
        fd, result_path = tempfile.mkstemp(prefix="ratchet-%s-" % self.phase, suffix=".jsonl")
        os.close(fd)
        env = {k: v for k, v in os.environ.items() if k not in self.scrub_env}
        env.update(self.extra_env)
        env["PYTHONPATH"] = RUNNER_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        argv = [sys.executable, "-m", "ratchet_harness.kernel.worker", "--plan", self.plan_path,
                "--phase", self.phase, "--result", result_path]
        proc = start_in_group(argv, env=env)
        readers = [LineReader(proc.stdout, "stdout", self._on_line),
                   LineReader(proc.stderr, "stderr", self._on_line)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + self.timeout
        while proc.poll() is None:
            if self.cancel.is_set():
                self.reason = "cancelled"
                break
            if time.monotonic() > deadline:
                self.reason = "timeout"
                break
            time.sleep(0.05)
        kill_group(proc, grace_seconds=2.0)
        for reader in readers:
            reader.join(timeout=5)
        records = []
        try:
            with open(result_path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue
        finally:
            os.unlink(result_path)
        self.exit_code = proc.returncode
        if self.reason is None and not any(r.get("kind") == "done" for r in records):
            self.reason = "crashed"
        return records


def _emit_audits(emitter, records, phase):
    failed = False
    for rec in records:
        if rec.get("kind") == "audit":
            evidence = dict(rec.get("evidence") or {})
            evidence.setdefault("phase", phase)
            emitter.audit(rec["check"], rec["verdict"], rec["message"], evidence)
            failed = failed or rec["verdict"] == "fail"
        elif rec.get("kind") in ("note", "error"):
            emitter.log("harness", "%s worker: %s" % (phase, rec.get("message")))
    return failed


def _peak_for(env_record, args):
    name = args.peak_from or (env_record or {}).get("device_name")
    return peaks.lookup(name) if name else None


def score_shapes(plan, ref_timings, cand_timings, peak, base_timings=None):
    """Per shape: T_SOL, the score and flags. Pure arithmetic, so it is unit-tested.
    The score's T_b is the baseline's time where one was timed, else the reference's."""
    rows = []
    base_timings = base_timings or {}
    for shape in plan["shapes"]:
        name = shape["name"]
        ref, cand = ref_timings.get(name), cand_timings.get(name)
        base = base_timings.get(name)
        t_base = base["median_ms"] / 1e3 if base else None
        peak_flops = peak["flops_per_second"].get(plan["precision"]) if peak else None
        peak_bw = peak["bytes_per_second"] if peak else None
        t_sol = sol.sol_seconds(shape.get("flops"), shape.get("bytes"), peak_flops, peak_bw)
        t_ref = ref["median_ms"] / 1e3 if ref else None
        t_cand = cand["median_ms"] / 1e3 if cand else None
        rows.append({
            "shape": name,
            "sol_seconds": t_sol,
            "bound": sol.bound_kind(shape.get("flops"), shape.get("bytes"), peak_flops, peak_bw)
            if t_sol else None,
            "reference_seconds": t_ref,
            "candidate_seconds": t_cand,
            "baseline_seconds": t_base,
            "scored_against": "baseline" if t_base else "reference",
            "score": sol.score(t_cand, t_base or t_ref, t_sol),
            "reference_score": sol.score(t_cand, t_ref, t_sol) if t_base else None,
            "speedup": (t_ref / t_cand) if t_ref and t_cand else None,
            "impossible": roofline.impossible(t_cand, t_sol),
            "reference_impossible": roofline.impossible(t_ref, t_sol),
            "unsynced": bool(cand and ref and cand.get("clock") == "cuda_events" and
                             unsynced.suspicious(cand.get("gap_ms", 0) / 1e3,
                                                 ref.get("gap_ms", 0) / 1e3, t_cand)),
            "gap_ms": {"candidate": cand.get("gap_ms") if cand else None,
                       "reference": ref.get("gap_ms") if ref else None},
        })
    return rows


def run(args, emitter):
    cancel = CancelFlag().install()
    started = time.monotonic()
    try:
        plan = build_plan(args)
    except Exception as exc:  # noqa: BLE001 — every task the harness cannot read ends the run
        # A TaskError's message says what to fix; anything else is a task file of a shape the
        # reader did not expect, reported with its type so the run still ends in the protocol.
        message = str(exc) if isinstance(exc, taskspec.TaskError) else \
            "cannot read the task: %s: %s" % (type(exc).__name__, exc)
        emitter.emit("start", mode="kernel", environment=environment.describe())
        emitter.end("error", message=message, wall_seconds=0.0)
        return 2
    emitter.emit("start", mode="kernel", environment=environment.describe(),
                 task={"name": plan["name"], "layout": plan["layout"],
                       "candidate": plan["candidate"], "dtype": plan["dtype"],
                       "shapes": [s["name"] for s in plan["shapes"]],
                       "atol": plan["atol"], "rtol": plan["rtol"]})
    failed = False

    if plan["candidate"].endswith(".py"):
        with open(plan["candidate"], encoding="utf-8", errors="replace") as handle:
            source = handle.read()
        try:
            found = static_fallback.findings(source, plan.get("forbid", []))
        except SyntaxError as exc:
            found = [{"line": exc.lineno or 0, "kind": "syntax", "detail": str(exc)}]
        if found:
            failed = True
            emitter.audit("static", "fail", "; ".join(
                "line %d: %s" % (f["line"], f["detail"]) for f in found[:5]),
                {"findings": found})
        else:
            emitter.audit("static", "pass", "no reference call, fallback or forbidden call")

    locked = None
    if args.lock_clocks:
        locked = clocks.lock(args.gpu, emitter)

    workdir = tempfile.mkdtemp(prefix="ratchet-kernel-")
    plan_path = os.path.join(workdir, "plan.json")
    with open(plan_path, "w", encoding="utf-8") as handle:
        json.dump(plan, handle)
    try:
        return _run_workers(args, emitter, cancel, plan, plan_path, _Ending(emitter, started, args),
                            failed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if locked:
            clocks.unlock(args.gpu, emitter)


class _Ending:
    """Ends the run: the protected-files audit (its files hashed again now that every worker
    is gone), `resource` and `end`. A protected file changed turns an `ok` run into `failed`."""

    def __init__(self, emitter, started, args):
        self.emitter, self.started = emitter, started
        self.protect = list(getattr(args, "protect", None) or [])
        self.cwd = os.path.abspath(getattr(args, "cwd", None) or ".")
        self.before = hashing.snapshot(self.protect, self.cwd)

    def __call__(self, reason, message=None):
        emitter = self.emitter
        if self.protect and hashing.audit(emitter, self.before,
                                          hashing.snapshot(self.protect, self.cwd)):
            if reason == "ok":
                reason = "failed"
        wall = round(time.monotonic() - self.started, 3)
        emitter.emit("resource", wall_seconds=wall)
        emitter.end(reason, exit_code=0 if reason == "ok" else 1, wall_seconds=wall,
                    message=message)
        return 0 if reason == "ok" else 1


def _worker_timeout(args, started):
    """A worker may run for --worker-timeout, and never past the run's --budget-seconds."""
    timeout = args.worker_timeout
    budget = getattr(args, "budget_seconds", None)
    if budget:
        timeout = min(timeout, max(0.1, budget - (time.monotonic() - started)))
    return timeout


def _worker_env(args):
    env = {}
    for item in getattr(args, "env", None) or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _run_workers(args, emitter, cancel, plan, plan_path, finish, failed):
    started = finish.started
    check = WorkerRun(emitter, cancel, "check", plan_path, _worker_timeout(args, started),
                      args.gpu, extra_env=_worker_env(args),
                      scrub_env=getattr(args, "scrub_env", None))
    records = check.run()
    env_record = next((r for r in records if r.get("kind") == "environment"), None)
    if env_record:
        emitter.log("harness", "device: %s, torch %s, triton %s" % (
            env_record.get("device_name"), env_record.get("torch"), env_record.get("triton")))
    failed = _emit_audits(emitter, records, "check") or failed
    if check.reason in ("cancelled", "timeout"):
        return finish(check.reason, "check worker: " + check.reason)
    errors = [r for r in records if r.get("kind") == "error"]
    if errors:
        return finish("error", errors[0].get("message"))
    if check.reason == "crashed":
        emitter.audit("crash", "fail", "check worker died (exit %s) before finishing: the "
                      "candidate crashed the process" % check.exit_code, {})
        return finish("failed", "candidate crashed the check worker")
    correct = not any(r.get("kind") == "audit" and r["verdict"] == "fail" and
                      r["check"] in ("load", "correctness", "output_type") for r in records)
    emitter.emit("metric", name="correct", value=1.0 if correct else 0.0, source="harness")
    if args.skip_timing or not correct:
        return finish("failed" if failed else "ok")

    timer = WorkerRun(emitter, cancel, "time", plan_path, _worker_timeout(args, started),
                      args.gpu, extra_env=_worker_env(args),
                      scrub_env=getattr(args, "scrub_env", None))
    trecords = timer.run()
    failed = _emit_audits(emitter, trecords, "time") or failed
    if timer.reason in ("cancelled", "timeout"):
        return finish(timer.reason, "time worker: " + timer.reason)
    terrors = [r for r in trecords if r.get("kind") == "error"]
    if terrors:
        return finish("error", terrors[0].get("message"))
    if timer.reason == "crashed":
        emitter.audit("crash", "fail", "time worker died before finishing", {})
        return finish("failed", "candidate crashed the time worker")

    env_record = next((r for r in trecords if r.get("kind") == "environment"), env_record)
    peak = _peak_for(env_record, args)
    def by_role(role):
        return {r["shape"]: r for r in trecords if r.get("kind") == "timing"
                and r["role"] == role}
    ref_t, cand_t, base_t = by_role("reference"), by_role("candidate"), by_role("baseline")
    rows = score_shapes(plan, ref_t, cand_t, peak, base_t)
    drift = []
    for row in rows:
        for role, table in (("reference", ref_t), ("baseline", base_t), ("candidate", cand_t)):
            rec = table.get(row["shape"])
            if not rec:
                continue
            extra = {k: rec[k] for k in TIMING_EXTRAS if rec.get(k) is not None}
            emitter.emit("timing", shape=row["shape"], role=role, median_ms=rec["median_ms"],
                         min_ms=rec["min_ms"], max_ms=rec["max_ms"], q20_ms=rec["q20_ms"],
                         q80_ms=rec["q80_ms"], rounds_ms=rec["rounds_ms"], spread=rec["spread"],
                         iterations=rec["iterations"], clock=rec["clock"],
                         gap_ms=rec.get("gap_ms"),
                         sol_ms=row["sol_seconds"] * 1e3 if row["sol_seconds"] else None,
                         **extra)
        ref, cand = ref_t.get(row["shape"]), cand_t.get(row["shape"])
        if ref and cand and cand.get("control_median_ms"):
            change = cand["control_median_ms"] / ref["median_ms"] - 1.0
            drift.append({"shape": row["shape"], "reference_ms": ref["median_ms"],
                          "control_ms": cand["control_median_ms"], "change": change,
                          "paired_ratio": cand.get("paired_ratio"),
                          "limit": max(DRIFT_FLOOR, 3 * (ref.get("spread") or 0.0))})
        if row["candidate_seconds"] is not None:
            emitter.emit("metric", name="time_ms", value=row["candidate_seconds"] * 1e3,
                         source="harness", unit="ms", shape=row["shape"])
        emitter.emit("metric", name="sol_score", value=row["score"], source="harness",
                     shape=row["shape"])
        if row["baseline_seconds"]:
            emitter.emit("metric", name="sol_score_vs_reference", value=row["reference_score"],
                         source="harness", shape=row["shape"])
    impossible = [r for r in rows if r["impossible"]]
    if impossible:
        failed = True
        emitter.audit("roofline", "fail", "faster than the hardware allows on " + ", ".join(
            r["shape"] for r in impossible), {"rows": impossible, "peak": peak})
    elif peak is None:
        emitter.audit("roofline", "skip", "no peak figures for this device: no bound to check",
                      {"device": (env_record or {}).get("device_name")})
    else:
        emitter.audit("roofline", "pass", "every shape slower than its roofline bound",
                      {"rows": rows, "chip": peak["chip"]})
    odd = [r for r in rows if r["unsynced"]]
    if odd:
        failed = True
        emitter.audit("unsynced_work", "fail", "work finishes after the timed stream on "
                      + ", ".join(r["shape"] for r in odd) + " (another stream or thread)",
                      {"rows": odd})
    elif any(r.get("clock") == "cuda_events" for r in cand_t.values()):
        emitter.audit("unsynced_work", "pass", "no work outside the timed stream",
                      {"gap_ms": {r["shape"]: r["gap_ms"] for r in rows}})
    if drift:
        moved = [d for d in drift if abs(d["change"]) > d["limit"]]
        if moved:
            emitter.audit("reference_drift", "warn", "the reference timed between candidate "
                          "rounds differs from its time before the candidate was imported on "
                          + ", ".join(d["shape"] for d in moved) + " (clock or thermal change, "
                          "contention, or the candidate's interference)", {"rows": drift})
        else:
            emitter.audit("reference_drift", "pass", "the reference timed between candidate "
                          "rounds matches its earlier time", {"rows": drift})
    scores = [r["score"] for r in rows]
    emitter.emit("metric", name="sol_score", value=sol.mean(scores), source="harness")
    emitter.emit("metric", name="speedup", value=sol.geomean([r["speedup"] for r in rows]),
                 source="harness")
    return finish("failed" if failed else "ok")
