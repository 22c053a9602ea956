"""The task's evaluation function, wrapped when its module is imported: each call is reported
(start, the integrity check, the model probes, the value it returned, the guard's value), so the
metric the engine uses is the one the protected evaluator computed, not the one the script printed.
"""

import functools
import importlib.util
import os
import sys
import threading

from . import causal
from .integrity import WATCHED_ON_IMPORT

# Where torch keeps its global optimizer-step hooks: watched so training is timed from the first step.
OPTIMIZER_MODULES = ("torch.optim.optimizer",)

# Evaluation calls in progress in this process. Process-wide rather than per thread: data-loading
# threads the evaluator starts read evaluation data on its behalf.
_active = [0]
_nested = threading.local()


def in_evaluator():
    return _active[0] > 0


def metric_value(returned, metric):
    """The number an evaluator returned: a number, a 0-d tensor or array, or the metric's entry of
    a dict. None (with the type, for the evidence) when it is none of these."""
    value = returned
    if isinstance(value, dict):
        value = value.get(metric) if metric in value else None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        try:
            value = value.item()
        except Exception:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class ImportWatcher:
    """A finder first on sys.meta_path: it lets the others find each module, then runs a hook
    after the module's own code has run (and before `import` hands it to the importer)."""

    def __init__(self, state):
        self.state = state
        evaluate = state.config.get("evaluate") or {}
        self.evaluate_file = os.path.realpath(evaluate["file"]) if evaluate.get("file") else None
        self.evaluate_function = evaluate.get("function")
        self._finding = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if getattr(self._finding, "on", False):
            return None
        watched = fullname in WATCHED_ON_IMPORT or fullname in OPTIMIZER_MODULES
        if not watched and self.evaluate_file is None:
            return None
        self._finding.on = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._finding.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        is_evaluator = (self.evaluate_file is not None and spec.origin and
                        os.path.realpath(spec.origin) == self.evaluate_file)
        if not (watched or is_evaluator):
            return spec
        if isinstance(spec.loader, type):  # a shared importer class (builtins): leave it alone
            if watched:
                self.state.after_import(fullname, None)
            return spec
        original = spec.loader.exec_module
        state = self.state

        def exec_module(module):
            if is_evaluator:
                state.importing_evaluation = True
            try:
                original(module)
            finally:
                state.importing_evaluation = False
            state.after_import(fullname, module if is_evaluator else None)

        spec.loader.exec_module = exec_module
        return spec


def wrap(state, module, name):
    """Replaces module.<name> by a wrapper that reports each call; returns False when the module
    has no such function."""
    original = getattr(module, name, None)
    if not callable(original):
        return False
    channel = state.channel
    calls = [0]

    @functools.wraps(original)
    def evaluated(*args, **kwargs):
        if getattr(_nested, "on", False):  # the evaluator calling itself: part of this call
            return original(*args, **kwargs)
        calls[0] += 1
        call = calls[0]
        clock = state.clock
        channel.send("eval_start", call=call, function=name)
        # The instrumentation's own failures are reported, never raised into the run.
        try:
            changes = state.integrity_changes()
        except Exception as exc:
            changes = [{"name": "(integrity check)", "change": "unreadable", "before": "", "after": repr(exc)[:300]}]
        channel.send("integrity", call=call, changes=changes)
        try:
            probe = causal.arm(state, args, kwargs)
        except Exception as exc:
            probe = None
            channel.send("probe", call=call, verdict="skip", reason="the probe could not start: %r" % (exc,))
        _nested.on = True
        _active[0] += 1
        started = clock()
        try:
            returned = original(*args, **kwargs)
        finally:
            _active[0] -= 1
            _nested.on = False
            seconds = clock() - started
            if probe is not None:
                try:
                    channel.send("probe", call=call, **probe.result())
                except Exception as exc:
                    channel.send("probe", call=call, verdict="skip", reason="the probe failed: %r" % (exc,))
        try:
            value = metric_value(returned, state.config.get("metric"))
        except Exception:
            value = None
        channel.send("eval_result", call=call, value=value, returned=type(returned).__name__,
                     seconds=round(seconds, 6))
        state.run_guard(call, args, kwargs)
        return returned

    setattr(module, name, evaluated)
    return True


def load_guard(guard):
    """The guard function from its file on the host, loaded under a private name."""
    spec = importlib.util.spec_from_file_location("_ratchet_guard", guard["file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, guard["function"])
