"""Worker process of kernel mode: imports torch, the reference and the candidate, and writes
its findings as JSON lines to a result file the orchestrator reads. Stdout is left to the
candidate (it becomes log events), so nothing the candidate prints can forge a result.

Phases: `check` (correctness and cheating checks) and `time` (a fresh process: timers captured
before the candidate is imported, reference timed before the candidate exists)."""

import argparse
import copy
import json
import os
import sys
import traceback


class Results:
    def __init__(self, path):
        self.handle = open(path, "w", encoding="utf-8")

    def add(self, kind, **fields):
        fields["kind"] = kind
        self.handle.write(json.dumps(fields, default=str) + "\n")
        self.handle.flush()

    def audit(self, check, verdict, message, evidence=None):
        self.add("audit", check=check, verdict=verdict, message=message, evidence=evidence or {})


def _resolve_device(requested):
    import torch
    if requested in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _environment(device):
    import torch
    env = {"device": device, "torch": torch.__version__, "device_name": "cpu"}
    try:
        import triton
        env["triton"] = triton.__version__
    except Exception:  # noqa: BLE001 - triton is optional
        env["triton"] = None
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        env.update(device_name=props.name, capability="%d.%d" % (props.major, props.minor),
                   multiprocessors=props.multi_processor_count,
                   memory_bytes=props.total_memory, cuda=torch.version.cuda)
    return env


def _sync(device):
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _upcast(values):
    import torch
    return [v.detach().to(torch.float64) if isinstance(v, torch.Tensor) and v.is_floating_point()
            else v for v in values]


def _short(exc):
    return "%s: %s" % (type(exc).__name__, str(exc)[:500])


class Session:
    def __init__(self, plan, results):
        import torch
        from .timing import Timers
        self.timers = Timers()  # first, before any task or candidate code runs
        try:
            import triton  # noqa: F401 - imported early so its own setup is not blamed on the candidate
        except Exception:  # noqa: BLE001
            pass
        try:
            # Imported before any snapshot: importing torch.profiler pulls in torch._dynamo,
            # which wraps torch.manual_seed (the launch check uses the profiler).
            import torch._dynamo  # noqa: F401
            import torch.profiler  # noqa: F401
        except Exception:  # noqa: BLE001
            pass
        from . import loading
        self.torch = torch
        self.loading = loading
        self.plan = plan
        self.results = results
        self.device = _resolve_device(plan.get("device"))
        torch.set_grad_enabled(False)
        self.results.add("environment", **_environment(self.device))
        self.task = loading.load_task(plan, self.device)
        self.candidate = None
        self.shape = None
        from .devicestate import ClockSampler, L2Persistence
        on_cuda = self.device.startswith("cuda")
        self.l2 = L2Persistence() if on_cuda else None
        self.clocks = ClockSampler() if on_cuda else None
        self.l2_bytes = None
        # Persisting-L2 state before the candidate was imported, and the largest limit the
        # timing rounds saw set (each round resets it, so the end state alone can miss it).
        self.l2_before = None
        self.l2_during = None
        if on_cuda:
            props = torch.cuda.get_device_properties(torch.device(self.device))
            self.l2_bytes = getattr(props, "L2_cache_size", None)
            torch.cuda.init()

    def stream_handle(self):
        if not self.device.startswith("cuda"):
            return None
        return self.torch.cuda.current_stream().cuda_stream

    def l2_state(self):
        if self.l2 is None or not self.l2.available():
            return None
        return self.l2.snapshot(self.stream_handle())

    def import_candidate(self):
        from ..checks import monkeypatch, threads
        self.patch_before = monkeypatch.snapshot([self.task.module])
        self.threads_before = threads.snapshot()
        self.l2_before = self.l2_state()
        try:
            self.candidate = self.loading.load_candidate(
                self.plan["candidate"], definition=self.plan.get("definition"),
                device=self.device)
        except Exception as exc:  # noqa: BLE001 - any failure to import is the candidate's
            self.results.audit("load", "fail", "candidate could not be loaded: " + _short(exc),
                               {"traceback": traceback.format_exc()[-4000:]})
            return False
        self.results.audit("load", "pass", "candidate loaded")
        return True

    def build(self, cls, shape, extra_modules=()):
        torch = self.torch
        self.shape = shape
        self.task.set_shape(shape, *([self.candidate] if self.candidate else []),
                            *extra_modules)
        torch.manual_seed(self.plan.get("init_seed", 42))
        model = cls(*self.task.init_inputs())
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device)
        return model

    def compare(self, out, truth, ref):
        from ..checks import correctness
        p = self.plan
        tol = (self.shape or {}).get("tolerance") or {}
        return correctness.compare(out, truth, ref, tol.get("atol", p["atol"]),
                                   tol.get("rtol", p["rtol"]), p["unit_roundoff"],
                                   p["precision_factor"],
                                   tol.get("min_match_fraction", p.get("min_match_fraction", 1.0)),
                                   tol.get("max_error_cap", p.get("max_error_cap")))

    def finish_global_checks(self, phase):
        from ..checks import monkeypatch, threads
        replaced = monkeypatch.changed(self.patch_before)
        if replaced:
            self.results.audit("monkeypatch", "fail", "candidate replaced functions the harness "
                               "or the reference relies on: " + ", ".join(replaced[:10]),
                               {"replaced": replaced, "phase": phase})
        else:
            self.results.audit("monkeypatch", "pass", "no watched function replaced",
                               {"phase": phase})
        extra = threads.new_threads(self.threads_before)
        if extra:
            self.results.audit("threads", "fail", "candidate left threads running: "
                               + ", ".join(extra), {"threads": extra, "phase": phase})
        else:
            self.results.audit("threads", "pass", "no new threads", {"phase": phase})
        self.finish_l2_check(phase)

    def finish_l2_check(self, phase):
        from ..checks import l2_persistence
        before = self.l2_before
        after = self.l2_state()
        if before is None or after is None:
            reason = "no CUDA device" if self.l2 is None else (
                self.l2.problem or "the driver does not report the persisting-L2 limit")
            self.results.audit("l2_persistence", "skip", "L2 persistence not checked: "
                               + reason, {"phase": phase})
            return
        if self.l2_during:
            after = dict(after, persisting_limit_bytes=max(
                self.l2_during, after.get("persisting_limit_bytes") or 0))
        found = l2_persistence.findings(before, after)
        evidence = {"phase": phase, "before": before, "after": after,
                    "reset_each_round": phase == "time"}
        if found:
            evidence["findings"] = found
            self.results.audit("l2_persistence", "fail", "candidate set aside persisting L2 "
                               "(data pinned in the cache survives the flush)", evidence)
        else:
            self.results.audit("l2_persistence", "pass", "no persisting L2 set aside",
                               evidence)


def run_check_phase(session):
    from ..checks import input_mutation, output_type, poison, state
    torch = session.torch
    plan = session.plan
    device = session.device
    failures = {name: [] for name in ("output_type", "input_mutation", "correctness",
                                      "precision", "state")}
    figures = []
    launch_rows = []
    in_place = set()  # shapes whose reference updates an input in place
    if not session.import_candidate():
        return
    ref_cls, new_cls = session.task.reference_class(), session.candidate.ModelNew
    for s_index, shape in enumerate(plan["shapes"]):
        name = shape["name"]
        try:
            ref_model = session.build(ref_cls, shape)
        except Exception as exc:  # noqa: BLE001
            session.results.add("error", message="reference failed on shape %s: %s"
                                % (name, _short(exc)))
            return
        try:
            cand_model = session.build(new_cls, shape)
        except Exception as exc:  # noqa: BLE001
            failures["correctness"].append({"shape": name, "reason": "ModelNew() raised "
                                            + _short(exc)})
            continue
        ref64 = None
        if plan.get("fp64_reference", True):
            try:
                ref64 = copy.deepcopy(ref_model).double() if isinstance(
                    ref_model, torch.nn.Module) else ref_model
            except Exception:  # noqa: BLE001 - some references cannot run in float64
                ref64 = None
        shape_fig = {"shape": name, "rel_error": 0.0, "reference_rel_error": 0.0}
        ref_updates = set()
        for trial in range(plan["trials"]):
            seed = plan["input_seed"] + 1000 * s_index + trial
            inputs = session.task.make_inputs(seed)
            ref_out, ref_updates = input_mutation.reference_updates(lambda inp: ref_model(*inp),
                                                                    inputs)
            if ref_updates:
                in_place.add(name)
            truth = ref_out
            if ref64 is not None:
                try:
                    truth = ref64(*_upcast(inputs))
                    self_check = session.compare(ref_out, truth, ref_out)
                    if not self_check["ok"]:
                        # The task's own reference misses its tolerance against float64: judge
                        # the candidate against the reference instead, and say so.
                        session.results.add("note", message="reference misses its tolerance "
                                            "against float64 on %s (%s); comparing with the "
                                            "reference" % (name, self_check["reason"]))
                        truth, ref64 = ref_out, None
                except Exception:  # noqa: BLE001
                    truth, ref64 = ref_out, None
            before = input_mutation.snapshot(inputs)
            poison.poison_free_blocks(output_type.flatten(ref_out), device)
            try:
                out = cand_model(*inputs)
                _sync(device)
            except Exception as exc:  # noqa: BLE001
                failures["correctness"].append({"shape": name, "trial": trial,
                                                "reason": "candidate raised " + _short(exc)})
                break
            bad_types = output_type.check(out, torch.device(device).type)
            if bad_types:
                failures["output_type"].append({"shape": name, "outputs": bad_types})
                break
            edited = input_mutation.not_exempt(input_mutation.changed(inputs, before),
                                               ref_updates)
            if edited:
                failures["input_mutation"].append({"shape": name, "trial": trial,
                                                   "inputs": edited})
            result = session.compare(out, truth, ref_out)
            if not result["ok"]:
                failures["correctness"].append({"shape": name, "trial": trial, **result})
                break
            shape_fig["rel_error"] = max(shape_fig["rel_error"], result["rel_error"])
            shape_fig["reference_rel_error"] = max(shape_fig["reference_rel_error"],
                                                   result["reference_rel_error"])
            if ref64 is not None and not result["precision_ok"]:
                failures["precision"].append({"shape": name, "trial": trial,
                                              "rel_error": result["rel_error"],
                                              "reference_rel_error":
                                                  result["reference_rel_error"],
                                              "limit": result["precision_limit"]})
        figures.append(shape_fig)
        if failures["correctness"] or failures["output_type"]:
            continue
        # State across calls, on two fresh input sets.
        seed = plan["input_seed"] + 1000 * s_index + 500
        inputs_a = session.task.make_inputs(seed)
        inputs_b = session.task.make_inputs(seed + 1)
        exp_a = ref_model(*input_mutation.snapshot(inputs_a))
        exp_b = ref_model(*input_mutation.snapshot(inputs_b))
        try:
            steps = state.sequence(lambda inp: cand_model(*inp), inputs_a, inputs_b, exp_a,
                                   exp_b, lambda out, exp: session.compare(out, exp, exp),
                                   updated=sorted(ref_updates))
        except Exception as exc:  # noqa: BLE001
            steps = [{"step": "sequence", "reason": "candidate raised " + _short(exc)}]
        if steps:
            failures["state"].append({"shape": name, "steps": steps})
        if device.startswith("cuda") and plan.get("launch_check", True):
            launch_rows.append(_count_launches(session, name, ref_model, cand_model,
                                               inputs_a, inputs_b))
        del ref_model, cand_model, ref64
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    messages = {
        "output_type": ("outputs are plain tensors on the device", "output is not a plain tensor"),
        "input_mutation": ("inputs unchanged by every call", "candidate changed its inputs"),
        "correctness": ("correct on %d shapes x %d trials against %s" % (
            len(plan["shapes"]), plan["trials"],
            "float64" if plan.get("fp64_reference", True) else "the reference"),
            "wrong result"),
        "precision": ("error comparable to the reference's own",
                      "error far above the reference's own: lower precision than the task's"),
        "state": ("A, B, A and refilled-A calls each match their own input",
                  "answer depends on earlier calls"),
    }
    if in_place:
        session.results.add("note", message="the reference updates some of its inputs in place "
                            "(on %s): a candidate may update those inputs too" % ", ".join(
                                sorted(in_place)))
    _launch_audit(session, launch_rows)
    if not failures["correctness"] and not failures["output_type"]:
        _perturbed_check(session, ref_cls, new_cls)
    for check, found in failures.items():
        ok_msg, bad_msg = messages[check]
        if found:
            detail = found[0].get("reason") or ""
            session.results.audit(check, "fail", bad_msg + (": " + detail if detail else ""),
                                  {"failures": found[:5], "figures": figures})
        else:
            session.results.audit(check, "pass", ok_msg, {"figures": figures}
                                  if check in ("correctness", "precision") else {})
    session.finish_global_checks("check")


def _count_launches(session, name, ref_model, cand_model, inputs_a, inputs_b):
    """Kernel launches of one reference call and of three candidate calls (A after a warm
    call on A, then B, then A again): a call that launches no compute kernel returned an
    answer it did not compute."""
    from ..checks import launches
    torch = session.torch
    sync = session.timers.synchronize
    ref_model(*inputs_a)
    cand_model(*inputs_a)
    sync()
    ref_counts = launches.count([lambda: ref_model(*inputs_a)], sync)
    cand_counts = launches.count([lambda: cand_model(*inputs_a), lambda: cand_model(*inputs_b),
                                  lambda: cand_model(*inputs_a)], sync)
    torch.cuda.synchronize()
    return {"shape": name, "reference": ref_counts, "candidate": cand_counts}


def _launch_audit(session, rows):
    from ..checks import launches
    if not rows:
        session.results.audit("launches", "skip", "launch counting needs a CUDA device and "
                              "torch.profiler", {})
        return
    problems = [r for r in rows if isinstance(r["reference"], dict) or
                isinstance(r["candidate"], dict)]
    if problems:
        session.results.audit("launches", "skip", "launches not counted: %s" % (
            (problems[0]["reference"] if isinstance(problems[0]["reference"], dict)
             else problems[0]["candidate"])["problem"]), {"rows": rows})
        return
    bad = []
    for r in rows:
        calls = launches.suspicious(r["reference"], r["candidate"])
        if calls:
            bad.append({"shape": r["shape"], "calls_without_kernels": calls})
    evidence = {"rows": [{"shape": r["shape"],
                          "reference_kernels": [c["kernels"] for c in r["reference"]],
                          "candidate_kernels": [c["kernels"] for c in r["candidate"]],
                          "candidate_copies": [c["memcpy"] for c in r["candidate"]],
                          "reference_names": r["reference"][0]["names"],
                          "candidate_names": r["candidate"][0]["names"]} for r in rows]}
    if bad:
        evidence["failures"] = bad
        session.results.audit("launches", "fail", "candidate returned results without "
                              "launching a compute kernel (a cached or precomputed answer) on "
                              + ", ".join(b["shape"] for b in bad), evidence)
    else:
        session.results.audit("launches", "pass", "every candidate call launched GPU kernels",
                              evidence)


def _perturbed_check(session, ref_cls, new_cls):
    """Correctness on shapes the task does not list (one step off the listed ones), so a
    candidate specialised to the exact listed shapes is caught."""
    from ..checks import input_mutation
    torch = session.torch
    plan = session.plan
    shapes = plan.get("perturbed_shapes") or []
    if not shapes:
        session.results.audit("perturbed_shapes", "skip", "the task lists no perturbed shapes",
                              {})
        return
    failures, checked, skipped = [], [], []
    for p_index, shape in enumerate(shapes):
        name = shape["name"]
        try:
            ref_model = session.build(ref_cls, shape)
            seed = plan["input_seed"] + 50000 + 100 * p_index
            inputs = session.task.make_inputs(seed)
            ref_out = ref_model(*input_mutation.snapshot(inputs))
            truth = ref_out
            if plan.get("fp64_reference", True) and isinstance(ref_model, torch.nn.Module):
                try:
                    ref64 = copy.deepcopy(ref_model).double()
                    cand_truth = ref64(*_upcast(inputs))
                    if session.compare(ref_out, cand_truth, ref_out)["ok"]:
                        truth = cand_truth
                except Exception:  # noqa: BLE001
                    pass
        except Exception as exc:  # noqa: BLE001 - the reference cannot run this shape
            skipped.append({"shape": name, "reason": "reference: " + _short(exc)})
            continue
        try:
            cand_model = session.build(new_cls, shape)
            trials_ok = True
            for trial in range(plan.get("perturbed_trials", 2)):
                if trial:
                    inputs = session.task.make_inputs(seed + trial)
                    ref_out = ref_model(*input_mutation.snapshot(inputs))
                    truth = ref_out
                out = cand_model(*inputs)
                _sync(session.device)
                result = session.compare(out, truth, ref_out)
                if not result["ok"]:
                    failures.append({"shape": name, "params": shape["params"], "trial": trial,
                                     "reason": result["reason"]})
                    trials_ok = False
                    break
            if trials_ok:
                checked.append(name)
        except Exception as exc:  # noqa: BLE001
            failures.append({"shape": name, "params": shape["params"],
                             "reason": "candidate raised " + _short(exc)})
        del ref_model
        if session.device.startswith("cuda"):
            torch.cuda.empty_cache()
    evidence = {"checked": checked, "skipped": skipped}
    if failures:
        evidence["failures"] = failures
        session.results.audit("perturbed_shapes", "fail", "wrong on a shape the task does not "
                              "list (specialised to the listed shapes?): %s: %s" % (
                                  failures[0]["shape"], failures[0]["reason"]), evidence)
    elif checked:
        session.results.audit("perturbed_shapes", "pass", "correct on %d unlisted shapes"
                              % len(checked), evidence)
    else:
        session.results.audit("perturbed_shapes", "skip", "the reference ran on none of the "
                              "perturbed shapes", evidence)


def _input_sets(session, shape, s_index, count_limit=8, byte_budget=2 << 30):
    torch = session.torch
    first = session.task.make_inputs(session.plan["input_seed"] + 7919 * (s_index + 1))
    size = sum(t.numel() * t.element_size() for t in first if isinstance(t, torch.Tensor)) or 1
    count = max(2, min(count_limit, byte_budget // size))
    sets = [first] + [session.task.make_inputs(session.plan["input_seed"] + 7919 * (s_index + 1)
                                               + k) for k in range(1, count)]
    return sets


def _measure(session, model, sets, control=None):
    from .timing import measure
    plan = session.plan
    return measure(lambda inp: model(*inp), sets, session.timers, session.device,
                   warmup=plan["warmup"], iterations=plan["iterations"],
                   rounds=plan["repeats"], min_round_ms=plan.get("min_round_ms", 0.0),
                   control=control, l2=session.l2 if session.l2 and session.l2.available()
                   else None, clocks=session.clocks if session.clocks and
                   session.clocks.available() else None, l2_bytes=session.l2_bytes,
                   launch_ahead=plan.get("launch_ahead", True), power_gap=plan.get("power_gap"))


def _time_baseline(session, prepared):
    """The scoring baseline, trusted task code timed like the reference and before the
    candidate is imported; its timed outputs are compared with the reference's, and a wrong
    or failing baseline is reported and not used."""
    from . import loading
    plan = session.plan
    try:
        module = loading.load_module(plan["baseline"], "ratchet_baseline")
    except Exception as exc:  # noqa: BLE001
        session.results.audit("baseline", "warn", "baseline not loaded, scoring against the "
                              "reference: " + _short(exc), {"baseline": plan["baseline"]})
        return
    problems = []
    for shape, sets, expected, _, pristine, _ in prepared:
        try:
            model = session.build(module.ModelNew, shape, extra_modules=(module,))
            res = _measure(session, model, sets)
            _put_back(sets, pristine)
        except Exception as exc:  # noqa: BLE001
            problems.append({"shape": shape["name"], "reason": "raised " + _short(exc)})
            continue
        outputs = res.pop("outputs")
        wrong = [k for k, (out, exp) in enumerate(zip(outputs, expected))
                 if out is not None and not session.compare(out, exp, exp)["ok"]]
        if wrong:
            problems.append({"shape": shape["name"], "reason": "wrong output on input sets %s"
                             % wrong})
            continue
        session.results.add("timing", role="baseline", shape=shape["name"], **res)
        del model
    if problems:
        session.results.audit("baseline", "warn", "baseline unusable on %s: %s; those shapes "
                              "are scored against the reference" % (
                                  problems[0]["shape"], problems[0]["reason"]),
                              {"problems": problems})
    else:
        session.results.audit("baseline", "pass", "baseline correct and timed on every shape",
                              {"baseline": os.path.basename(plan["baseline"])})


def _put_back(sets, pristine):
    """Restores input sets, in place (same addresses), from their snapshots; None: nothing to do."""
    for st, saved in zip(sets, pristine or ()):
        for now, then in zip(st, saved):
            if hasattr(now, "copy_"):
                now.copy_(then)


def run_time_phase(session):
    from ..checks import input_mutation, output_type
    torch = session.torch
    plan = session.plan
    shapes = plan["shapes"]
    ref_cls = session.task.reference_class()
    prepared = []
    interleave = plan.get("interleave", False) and session.device.startswith("cuda")
    # The reference is timed before the candidate is imported: nothing it does can touch it.
    for s_index, shape in enumerate(shapes):
        ref_model = session.build(ref_cls, shape)
        sets = _input_sets(session, shape, s_index)
        # Expected outputs from copies: a reference that updates an input in place (an
        # accumulation buffer) would otherwise change the inputs the candidate is timed on.
        expected, updates = [], set()
        for st in sets:
            out, changed = input_mutation.reference_updates(lambda inp: ref_model(*inp), st)
            expected.append(out)
            updates |= changed
        pristine = [input_mutation.snapshot(st) for st in sets] if updates else None
        res = _measure(session, ref_model, sets)
        _put_back(sets, pristine)
        res.pop("outputs")
        session.results.add("timing", role="reference", shape=shape["name"], **res)
        prepared.append((shape, sets, expected, ref_model if interleave else None, pristine,
                         updates))
        del ref_model
    if plan.get("baseline"):
        _time_baseline(session, prepared)
    if not session.import_candidate():
        return
    if hasattr(session.candidate, "_ratchet_set_poison"):
        session.candidate._ratchet_set_poison(False)
    bad_outputs, edited, persisted, in_place = [], [], [], []
    for shape, sets, expected, ref_model, _, updates in prepared:
        pristine = [input_mutation.snapshot(s) for s in sets]
        control = None
        if ref_model is not None:
            control = (lambda inp, m=ref_model: m(*inp), sets)
        try:
            model = session.build(session.candidate.ModelNew, shape)
            res = _measure(session, model, sets, control=control)
        except Exception as exc:  # noqa: BLE001
            session.results.audit("timed_outputs", "fail", "candidate raised while timed: "
                                  + _short(exc), {"shape": shape["name"]})
            return
        outputs = res.pop("outputs")
        if res.get("persisting_l2_limit_bytes"):
            persisted.append(res["persisting_l2_limit_bytes"])
        if updates:
            # Repeated timed calls keep updating the inputs the reference updates in place, so
            # the last output cannot match a single call's: correctness was checked with fresh
            # copies in the check phase; here only those inputs may change.
            in_place.append(shape["name"])
            outputs = []
        for k, (out, exp) in enumerate(zip(outputs, expected)):
            if out is None:
                continue
            if output_type.check(out, torch.device(session.device).type):
                bad_outputs.append({"shape": shape["name"], "set": k, "reason": "not a tensor"})
                continue
            result = session.compare(out, exp, exp)
            if not result["ok"]:
                bad_outputs.append({"shape": shape["name"], "set": k, "reason": result["reason"]})
        for k, (now, then) in enumerate(zip(sets, pristine)):
            changed = input_mutation.not_exempt(input_mutation.changed(now, then), updates)
            if changed:
                edited.append({"shape": shape["name"], "set": k, "inputs": changed})
        session.results.add("timing", role="candidate", shape=shape["name"], **res)
        del model, pristine
        if session.device.startswith("cuda"):
            torch.cuda.empty_cache()
    session.l2_during = max(persisted) if persisted else None
    if bad_outputs:
        session.results.audit("timed_outputs", "fail", "outputs of timed calls are wrong: "
                              + bad_outputs[0]["reason"], {"failures": bad_outputs[:10]})
    elif in_place and len(in_place) == len(prepared):
        session.results.audit("timed_outputs", "skip", "the reference updates its inputs in "
                              "place, so repeated timed calls cannot be compared with one call's "
                              "output; correctness was checked on fresh copies", {"shapes": in_place})
    else:
        session.results.audit("timed_outputs", "pass",
                              "every timed call's last output matches its input's reference",
                              {"not_compared": in_place} if in_place else {})
    if edited:
        session.results.audit("input_mutation", "fail", "candidate changed its inputs while "
                              "timed", {"failures": edited[:10]})
    else:
        session.results.audit("input_mutation", "pass", "inputs unchanged after every timed call")
    session.finish_global_checks("time")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", required=True)
    parser.add_argument("--phase", choices=["check", "time"], required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    with open(args.plan, encoding="utf-8") as handle:
        plan = json.load(handle)
    results = Results(args.result)
    try:
        session = Session(plan, results)
        if args.phase == "check":
            run_check_phase(session)
        else:
            run_time_phase(session)
        results.add("done")
    except Exception as exc:  # noqa: BLE001 - report, the orchestrator decides
        results.add("error", message=_short(exc), traceback=traceback.format_exc()[-4000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
