"""Starts the instrumentation of one process of the run and holds what it knows: the channel, the
snapshots, the evaluator's wrapper and the file watcher."""

import json
import os
import sys
import sysconfig
import time

from . import evaluator, integrity, watch
from .client import Channel, busy


class State:
    def __init__(self, config, channel):
        self.config = config
        self.channel = channel
        # The clock as it was before the script's first line: a patched time module cannot skew it.
        self.clock = time.perf_counter
        self.integrity = integrity.Integrity()
        self.watcher = watch.Watcher(self)
        self.evaluation_module = None
        # True while the evaluation's module runs its top-level code (on import).
        self.importing_evaluation = False
        self._guard = None
        self._watching_training = False
        self.library_roots = sorted({sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")} - {None})

    def in_evaluator(self):
        return evaluator.in_evaluator()

    def after_import(self, name, module):
        """A watched library finished importing, or (module given) the evaluation module did."""
        was_busy = getattr(busy, "on", False)
        busy.on = True
        try:
            if module is None:
                if name in evaluator.OPTIMIZER_MODULES:
                    self.watch_training_start(sys.modules.get(name))
                else:
                    self.integrity.on_module_imported(name)
                if name == "torch":
                    self.watch_training_start(getattr(getattr(sys.modules["torch"], "optim", None), "optimizer", None))
                return
            function = self.config["evaluate"]["function"]
            if not evaluator.wrap(self, module, function):
                self.channel.send("evaluator_missing", module=name, function=function,
                                  file=getattr(module, "__file__", None))
                return
            self.evaluation_module = module.__name__
            self.integrity.add_evaluation_module(module)
            self.integrity.add_function("%s.%s" % (module.__name__, function),
                                        getattr(module, function).__wrapped__)
            self.integrity.watch_assignments(module)
            self.channel.send("evaluator_loaded", module=module.__name__, function=function)
        finally:
            busy.on = was_busy

    def watch_training_start(self, optimizer_module):
        """Reports the first optimizer step of this process: training starts there, after the
        imports, the data loading and the compilation of the first forward and backward, which a
        training budget does not count. Needs torch's global step hooks (torch.optim.optimizer's
        register_optimizer_step_pre_hook, torch 2.0 and later); without them the harness times
        training from the start of the run. Registered once, as soon as that module is loaded."""
        register = getattr(optimizer_module, "register_optimizer_step_pre_hook", None)
        if register is None or self._watching_training:
            return
        self._watching_training = True
        started = []
        channel = self.channel

        def first_step(optimizer, args, kwargs):
            if not started:
                started.append(True)
                channel.send("train_start", optimizer=type(optimizer).__name__)

        register(first_step)

    def integrity_changes(self):
        return self.integrity.changes(self.evaluation_module, self.library_roots)

    def run_guard(self, call, args, kwargs):
        guard = self.config.get("guard")
        if not guard:
            return
        was_busy = getattr(busy, "on", False)
        busy.on = True
        try:
            if self._guard is None:
                self._guard = evaluator.load_guard(guard)
            evaluator._active[0] += 1
            try:
                returned = self._guard(*args, **kwargs)
            finally:
                evaluator._active[0] -= 1
            self.channel.send("guard_result", call=call, value=evaluator.metric_value(returned, guard.get("metric")),
                              returned=type(returned).__name__)
        except Exception as exc:
            self.channel.send("guard_result", call=call, value=None, error=repr(exc)[:500])
        finally:
            busy.on = was_busy


def start():
    if sys.version_info < (3, 8):
        return  # no audit hooks before 3.8: the harness reports the process as uninstrumented
    with open(os.environ["RATCHET_INRUN_CONFIG"], encoding="utf-8") as handle:
        config = json.load(handle)
    channel = Channel(config["channel"])
    state = State(config, channel)
    integrity.relative_to[0] = os.path.join(os.path.realpath(config["run_root"]), "")
    if not channel.send("ready"):
        return
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=channel.after_fork_in_child)
    # Before the script's first line: the clocks, math and builtins as shipped.
    for name in ("time", "math", "builtins"):
        __import__(name)
        state.integrity.on_module_imported(name)
    for name in ("torch", "torch.nn.functional", "numpy"):
        if name in sys.modules:  # imported by another sitecustomize or a .pth file
            state.integrity.on_module_imported(name)
    state.integrity.watch_assignments(sys.modules["time"])
    sys.meta_path.insert(0, evaluator.ImportWatcher(state))
    state.watcher.install()
