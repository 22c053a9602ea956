"""Worker process of kernel mode: imports torch, the reference and the candidate, and writes
its findings as JSON lines to a result file the orchestrator reads. Stdout is left to the
candidate (it becomes log events), so nothing the candidate prints can forge a result.

Phases: `check` (correctness and cheating checks) and `time` (a fresh process: timers captured
before the candidate is imported, reference timed before the candidate exists)."""

import argparse
import copy
import json
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

    def import_candidate(self):
        from ..checks import monkeypatch, threads
        self.patch_before = monkeypatch.snapshot([self.task.module])
        self.threads_before = threads.snapshot()
        try:
            self.candidate = self.loading.load_candidate(self.plan["candidate"])
        except Exception as exc:  # noqa: BLE001 - any failure to import is the candidate's
            self.results.audit("load", "fail", "candidate could not be loaded: " + _short(exc),
                               {"traceback": traceback.format_exc()[-4000:]})
            return False
        self.results.audit("load", "pass", "candidate loaded")
        return True

    def build(self, cls, shape):
        torch = self.torch
        self.task.set_shape(shape, *( [self.candidate] if self.candidate else []))
        torch.manual_seed(self.plan.get("init_seed", 42))
        model = cls(*self.task.init_inputs())
        if isinstance(model, torch.nn.Module):
            model = model.to(self.device)
        return model

    def compare(self, out, truth, ref):
        from ..checks import correctness
        p = self.plan
        return correctness.compare(out, truth, ref, p["atol"], p["rtol"], p["unit_roundoff"],
                                   p["precision_factor"], p.get("min_match_fraction", 1.0))

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


def run_check_phase(session):
    from ..checks import input_mutation, output_type, poison, state
    torch = session.torch
    plan = session.plan
    device = session.device
    failures = {name: [] for name in ("output_type", "input_mutation", "correctness",
                                      "precision", "state")}
    figures = []
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
        for trial in range(plan["trials"]):
            seed = plan["input_seed"] + 1000 * s_index + trial
            inputs = session.task.make_inputs(seed)
            ref_out = ref_model(*input_mutation.snapshot(inputs))
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
            edited = input_mutation.changed(inputs, before)
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
                                   exp_b, lambda out, exp: session.compare(out, exp, exp))
        except Exception as exc:  # noqa: BLE001
            steps = [{"step": "sequence", "reason": "candidate raised " + _short(exc)}]
        if steps:
            failures["state"].append({"shape": name, "steps": steps})
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


def _input_sets(session, shape, s_index, count_limit=8, byte_budget=2 << 30):
    torch = session.torch
    first = session.task.make_inputs(session.plan["input_seed"] + 7919 * (s_index + 1))
    size = sum(t.numel() * t.element_size() for t in first if isinstance(t, torch.Tensor)) or 1
    count = max(2, min(count_limit, byte_budget // size))
    sets = [first] + [session.task.make_inputs(session.plan["input_seed"] + 7919 * (s_index + 1)
                                               + k) for k in range(1, count)]
    return sets


def _timing_budget(session, model, sets):
    """Iterations per round: the requested count, fewer for slow calls so that one round stays
    near a second (a slow naive candidate must not eat the whole budget)."""
    import time
    plan = session.plan
    t0 = time.perf_counter()
    model(*sets[0])
    _sync(session.device)
    est_ms = max((time.perf_counter() - t0) * 1e3, 1e-3)
    iterations = int(min(plan["iterations"], max(5, 1000.0 / est_ms)))
    # Warm up for at least a quarter second: enough calls to finish compilation and autotuning,
    # and to bring an idle GPU's clocks up before the first timed round.
    warmup = int(min(1000, max(plan["warmup"], 250.0 / est_ms)))
    return iterations, warmup


def run_time_phase(session):
    from ..checks import input_mutation, output_type
    from .timing import measure
    torch = session.torch
    plan = session.plan
    shapes = plan["shapes"]
    ref_cls = session.task.reference_class()
    prepared = []
    # The reference is timed before the candidate is imported: nothing it does can touch it.
    for s_index, shape in enumerate(shapes):
        ref_model = session.build(ref_cls, shape)
        sets = _input_sets(session, shape, s_index)
        expected = [ref_model(*s) for s in sets]
        iterations, warmup = _timing_budget(session, ref_model, sets)
        res = measure(lambda inp: ref_model(*inp), sets, session.timers, session.device,
                      warmup=warmup, iterations=iterations, rounds=plan["repeats"])
        res.pop("outputs")
        session.results.add("timing", role="reference", shape=shape["name"], **res)
        prepared.append((shape, sets, expected))
        del ref_model
    if not session.import_candidate():
        return
    bad_outputs, edited = [], []
    for shape, sets, expected in prepared:
        pristine = [input_mutation.snapshot(s) for s in sets]
        try:
            model = session.build(session.candidate.ModelNew, shape)
            iterations, warmup = _timing_budget(session, model, sets)
            res = measure(lambda inp: model(*inp), sets, session.timers, session.device,
                          warmup=warmup, iterations=iterations, rounds=plan["repeats"])
        except Exception as exc:  # noqa: BLE001
            session.results.audit("timed_outputs", "fail", "candidate raised while timed: "
                                  + _short(exc), {"shape": shape["name"]})
            return
        outputs = res.pop("outputs")
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
            changed = input_mutation.changed(now, then)
            if changed:
                edited.append({"shape": shape["name"], "set": k, "inputs": changed})
        session.results.add("timing", role="candidate", shape=shape["name"], **res)
        del model, pristine
        if session.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if bad_outputs:
        session.results.audit("timed_outputs", "fail", "outputs of timed calls are wrong: "
                              + bad_outputs[0]["reason"], {"failures": bad_outputs[:10]})
    else:
        session.results.audit("timed_outputs", "pass",
                              "every timed call's last output matches its input's reference")
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
