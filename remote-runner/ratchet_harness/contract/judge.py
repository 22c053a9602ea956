"""Turns what a train run's instrumented processes reported into the run's evaluator metric and
its audit events (remote-runner/PROTOCOL.md, "train": the checks and their evidence)."""

import math
import os

# Checks whose failure means the run produced no earned metric (it is wrong, not suspect).
FAILURE_CHECKS = ("evaluator",)


def printed_tolerance(raw, value):
    """Half a unit in the last printed digit: `0.9979` may stand for anything in ±0.00005."""
    text = (raw or "").strip().lower()
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    try:
        shift = int(exponent) if exponent else 0
    except ValueError:
        shift = 0
    return 0.5 * 10.0 ** (shift - decimals) + 1e-12 * abs(value or 0.0)


class Judge:
    def __init__(self, emitter, options, started):
        self.emitter = emitter
        self.options = options
        self.started = started
        self.disabled = set(options.get("disabled") or [])

    def audit(self, check, verdict, message, evidence=None):
        if check in self.disabled:
            self.emitter.audit(check, "skip", "switched off for this run (--disable-check)")
            return
        self.emitter.audit(check, verdict, message, evidence=evidence)

    def judge(self, messages, processes, tampering, printed, leftovers, instrumented, command_ok=True):
        """Emits the evaluator metric and every check; returns the failure message when the run
        has no earned metric (else None)."""
        by_kind = {}
        for m in messages:
            by_kind.setdefault(m.kind, []).append(m)
        primary = self._primary_pid(processes, by_kind.get("eval_result", []))
        results = [m for m in by_kind.get("eval_result", []) if m.pid == primary]
        starts = {m.body.get("call"): m for m in by_kind.get("eval_start", []) if m.pid == primary}
        failure = self._evaluator(results, starts, by_kind, printed, command_ok)
        if self.options.get("evaluate_label"):
            self._integrity(by_kind.get("integrity", []))
        self._budget(results, starts, by_kind.get("train_start", []))
        self._causality(by_kind.get("probe", []))
        self._files(by_kind.get("file", []))
        self._processes(by_kind.get("process", []), leftovers)
        self._channel(tampering, processes, instrumented)
        self._guard([m for m in by_kind.get("guard_result", []) if m.pid == primary])
        return failure

    @staticmethod
    def _primary_pid(processes, results):
        """Rank 0 under torchrun; else the process that evaluated last."""
        ranked = [pid for pid, hello in processes.items() if str(hello.get("rank")) == "0"]
        evaluated = {m.pid for m in results}
        for pid in ranked:
            if pid in evaluated:
                return pid
        return results[-1].pid if results else None

    # -- the metric ------------------------------------------------------------------------------
    def _evaluator(self, results, starts, by_kind, printed, command_ok=True):
        opts = self.options
        evaluate = opts.get("evaluate_label")
        metric = opts.get("metric")
        if not evaluate:
            return None
        shown = printed.get(metric) if metric else None
        if not results:
            missing = by_kind.get("evaluator_missing", [])
            loaded = bool(by_kind.get("evaluator_loaded"))
            if missing:
                why = "its module has no function %s" % missing[0].body.get("function")
            elif loaded:
                why = "its module was imported but the function was never called"
            else:
                why = "its module was never imported by the run"
            if shown is not None:
                self.audit("printed_metric", "fail",
                           "printed %s: %s, but the evaluation function %s was never called (%s): "
                           "the value was not earned" % (metric, shown[1], evaluate, why),
                           {"printed": shown[0], "raw": shown[1], "evaluate": evaluate})
                if "printed_metric" not in self.disabled:  # switched off: a skip, then the failure below
                    return None
            if not command_ok:
                # The command failed before it evaluated: its own error says why, not this.
                self.audit("evaluator", "skip", "the run failed before %s was called" % evaluate)
                return None
            message = "the evaluation function %s was never called (%s): the run has no earned %s" % (
                evaluate, why, metric or "metric")
            self.audit("evaluator", "fail", message, {"evaluate": evaluate})
            return message
        last = results[-1]
        value = last.body.get("value")
        if value is None:
            message = "%s returned a %s, not a number%s" % (
                evaluate, last.body.get("returned"), " or a dict with %r" % metric if metric else "")
            self.audit("evaluator", "fail", message, {"evaluate": evaluate, "returned": last.body.get("returned")})
            return message
        self.emitter.emit("metric", name=metric, value=value, source="evaluator", function=evaluate,
                          call=last.body.get("call"), calls=len(results),
                          evaluator_seconds=last.body.get("seconds"))
        self.audit("evaluator", "pass", "%s returned %r (call %d of %d)" % (
            evaluate, value, last.body.get("call"), len(results)), {"calls": len(results)})
        if shown is None:
            self.audit("printed_metric", "skip", "the run printed no %s line to compare" % metric)
            return None
        printed_value, raw = shown
        tolerance = printed_tolerance(raw, value)
        evidence = {"printed": printed_value, "raw": raw, "evaluated": value, "tolerance": tolerance}
        if printed_value is None or not math.isfinite(printed_value) or abs(printed_value - value) > tolerance:
            self.audit("printed_metric", "fail",
                       "printed %s: %s, but %s returned %r: the printed value is not the evaluated one"
                       % (metric, raw, evaluate, value), evidence)
        else:
            self.audit("printed_metric", "pass", "the printed %s matches the evaluator's value" % metric, evidence)
        return None

    # -- the evaluator as shipped ----------------------------------------------------------------
    def _integrity(self, reports):
        if not reports:
            self.audit("evaluator_integrity", "skip", "no evaluation call to check")
            return
        changes = {}
        for report in reports:
            for change in report.body.get("changes") or []:
                changes.setdefault(change.get("name"), change)
        if changes:
            listed = ["%s (%s: %s -> %s%s)" % (c["name"], c.get("change"), c.get("before"), c.get("after"),
                                               ", assigned at %s" % c["assigned_at"] if c.get("assigned_at") else "")
                      for c in changes.values()]
            self.audit("evaluator_integrity", "fail",
                       "the evaluator did not run as shipped: " + "; ".join(listed[:6]) +
                       (" and %d more" % (len(listed) - 6) if len(listed) > 6 else ""),
                       {"changes": list(changes.values())[:50]})
        else:
            self.audit("evaluator_integrity", "pass",
                       "the evaluation module, the library functions it reaches and the clocks were "
                       "unchanged at every evaluation call", {"calls": len(reports)})

    def _budget(self, results, starts, train_starts):
        budget = self.options.get("training_budget_seconds")
        if not results:
            if budget:
                self.audit("training_budget", "skip", "no evaluation call: nothing to time")
            return
        last_call = results[-1].body.get("call")
        start = starts.get(last_call)
        if start is None:
            return
        to_evaluation = start.time - self.started
        self.emitter.emit("metric", name="seconds_to_evaluation", value=round(to_evaluation, 3), source="harness",
                          unit="s")
        # Training starts at the evaluating process's first optimizer step, when torch says so; the
        # imports and the first compilation before it are not training.
        first_step = next((m for m in train_starts if m.pid == start.pid and m.time <= start.time), None)
        training = start.time - first_step.time if first_step is not None else None
        if training is not None:
            self.emitter.emit("metric", name="seconds_of_training", value=round(training, 3), source="harness",
                              unit="s")
        if not budget:
            return
        allowance = self.options.get("training_allowance_seconds")
        if allowance is None:
            allowance = max(10.0, 0.25 * budget)
        seconds = training if training is not None else to_evaluation
        since = "its first optimizer step" if training is not None else "the start of the run"
        evidence = {"seconds_to_evaluation": round(to_evaluation, 3), "seconds_of_training": training,
                    "budget_seconds": budget, "allowance_seconds": allowance, "call": last_call, "since": since}
        if seconds > budget + allowance:
            self.audit("training_budget", "fail",
                       "trained for %.1f s from %s to the evaluation that gave the metric, over the budget "
                       "of %g s plus %g s allowed (harness clock)" % (seconds, since, budget, allowance),
                       evidence)
        else:
            self.audit("training_budget", "pass", "trained for %.1f s from %s, within %g s + %g s"
                       % (seconds, since, budget, allowance), evidence)

    def _causality(self, probes):
        if not probes:
            requested = self.options.get("probes")
            if requested not in (None, "auto") and "causal-lm" in requested:
                self.audit("causality", "warn", "the causality probe was asked for, but the evaluator "
                           "received no torch model to probe")
            return
        leaks = [p.body for p in probes if p.body.get("verdict") == "fail"]
        if leaks:
            leak = leaks[0]
            self.audit("causality", "fail",
                       "the model sees the future: with the tokens after position %d changed, its output "
                       "at position %d moved by %.3g (tolerance %.3g)" % (
                           leak["changed_after"], leak["first_leak"], leak["change_at_first_leak"], leak["tolerance"]),
                       leak)
            return
        passed = [p.body for p in probes if p.body.get("verdict") == "pass"]
        if passed:
            self.audit("causality", "pass", "outputs at positions <= %d did not move when later tokens "
                       "changed (largest change %.3g)" % (passed[0]["changed_after"], passed[0]["max_change"]),
                       passed[0])
            return
        skipped = probes[0].body
        verdict = "warn" if skipped.get("requested") else "skip"
        self.audit("causality", verdict, "causality probe not run: %s" % skipped.get("reason"), skipped)

    def _files(self, reports):
        bad = [r.body for r in reports if r.body.get("kind") in ("protected_write", "evaluation_only_read",
                                                                 "harness_write", "protected_link")]
        outside = [r.body for r in reports if r.body.get("kind") == "outside_write"]
        words = {"protected_write": "wrote to protected file", "evaluation_only_read":
                 "read evaluation-only file", "harness_write": "wrote into the harness's own files:",
                 "protected_link": "made a hard link to protected file"}
        if bad:
            listed = ["%s %s (%s)" % (words[b["kind"]], b["path"], b.get("where") or "?") for b in bad]
            self.audit("protected_access", "fail", "the run " + "; ".join(listed[:5]), {"accesses": bad[:50]})
        else:
            self.audit("protected_access", "pass", "no protected file was opened for writing and "
                       "evaluation-only files were read only by the evaluator")
        if outside:
            listed = ["%s (%s)" % (o["path"], o.get("where") or "?") for o in outside]
            self.audit("outside_writes", "warn", "the run wrote outside its folder and temp: " +
                       "; ".join(listed[:5]), {"writes": outside[:50]})

    def _processes(self, reports, leftovers):
        started = [r.body for r in reports]
        evading = [p for p in started if p.get("problems")]
        if evading:
            first = evading[0]
            self.audit("processes", "fail", "the run started `%s` (%s): %s" % (
                " ".join(first.get("argv") or [])[:120], first.get("where") or "?", "; ".join(first["problems"])),
                {"started": started[:50]})
        elif started:
            self.audit("processes", "pass", "the run started %d process%s" % (
                len(started), "" if len(started) == 1 else "es"), {"started": started[:50]})
        if leftovers:
            self.audit("leftover_processes", "fail",
                       "%d process%s of the run outlived it (left its process group) and %s killed: %s" % (
                           len(leftovers), "" if len(leftovers) == 1 else "es",
                           "was" if len(leftovers) == 1 else "were",
                           ", ".join("%d `%s`" % (p["pid"], p["cmdline"][:60]) for p in leftovers[:3])),
                       {"processes": leftovers[:20]})
        else:
            self.audit("leftover_processes", "pass", "no process of the run outlived it")

    def _channel(self, tampering, processes, instrumented):
        if not instrumented:
            return
        if tampering:
            self.audit("channel", "fail", "something in the run tampered with the harness's channel: "
                       + tampering[0]["problem"], {"problems": tampering})
        elif not processes and self.options.get("evaluate_label"):
            self.audit("channel", "warn", "no Python process of the run reported to the harness: the "
                       "command is not Python, or it started Python in a way that skips the "
                       "instrumentation; nothing inside the run was checked")
        elif processes:
            self.audit("channel", "pass", "%d Python process%s reported" % (
                len(processes), "" if len(processes) == 1 else "es"),
                {"processes": [{"pid": pid, "argv": h.get("argv")} for pid, h in list(processes.items())[:20]]})

    def _guard(self, results):
        guard = self.options.get("guard_label")
        if not guard or self.options.get("guard_command"):
            return
        if not results:
            return  # no evaluation call: the evaluator check says why
        last = results[-1].body
        if last.get("value") is None:
            self.audit("guard", "warn", "the guard %s gave no number: %s" % (
                guard, last.get("error") or "it returned a %s" % last.get("returned")), last)
            return
        self.emitter.emit("metric", name=self.options.get("guard_metric") or "guard", value=last["value"],
                          source="guard", function=guard)
