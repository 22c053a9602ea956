"""Train mode's evaluation contract against a corpus of training scripts (tests/fixtures/train/):
each cheat is caught by the check that targets it and, run again with that check switched off,
by no other (or by the one named where two checks see it); each honest script improves the metric
for real and passes every check; the instrumentation and its probe change nothing the run
computes.

Every fixture is a complete train.py, copied over the task's in a fresh copy of the task per run.
The runs of a test class are started together in a small pool when the class is set up, so the
suite costs little more than its slowest runs."""

import concurrent.futures
import os
import shutil
import sys
import tempfile
import time
import unittest

from tests.helpers import FIXTURES, of_type, pid_alive, run_harness
from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON

TRAIN_FIXTURES = os.path.join(FIXTURES, "train")
TRAINING_BUDGET = 0.25  # the task's TIME_BUDGET; the budget cheats take 8x that by their own clock
ALLOWANCE = 1.5  # start-up allowed past it, so a slow machine does not fail the honest scripts
BPC_CONTRACT = ("--evaluate", "prepare.py:evaluate_bpc", "--metric", "val_bpc",
                "--protect", "prepare.py", "data/val.txt", "--evaluation-only", "data/val.txt",
                "--training-budget-seconds", str(TRAINING_BUDGET),
                "--training-allowance-seconds", str(ALLOWANCE))
TORCH_CONTRACT = ("--evaluate", "prepare.py:evaluate_loss", "--metric", "val_loss",
                  "--protect", "prepare.py", "data/val.txt", "--evaluation-only", "data/val.txt")
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=max(3, (os.cpu_count() or 2) + 1))
_FOLDERS = []


def tearDownModule():
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


class Run:
    """One harness run of a fixture: its events and the folders it ran in."""

    def __init__(self, fixture, events, proc, root):
        self.fixture = fixture
        self.events = events
        self.proc = proc
        self.root = root
        self.folder = os.path.join(root, "run")
        self.audits = {}
        for audit in of_type(events, "audit"):
            if audit["check"] in self.audits:
                raise AssertionError("two %s audits in one run" % audit["check"])
            self.audits[audit["check"]] = audit
        self.end = events[-1]

    @property
    def failed(self):
        return sorted(c for c, a in self.audits.items() if a["verdict"] == "fail")

    def verdict(self, check):
        return self.audits[check]["verdict"] if check in self.audits else None

    def evidence(self, check):
        return self.audits[check]["evidence"]

    def metric(self, name, source):
        found = [m for m in of_type(self.events, "metric") if m["name"] == name and m["source"] == source]
        return found[-1]["value"] if found else None

    def line(self, text):
        """`train.py:N` for the first line of the fixture that contains text."""
        with open(os.path.join(TRAIN_FIXTURES, self.fixture)) as handle:
            for number, line in enumerate(handle, 1):
                if text in line:
                    return "train.py:%d" % number
        raise AssertionError("%r not in %s" % (text, self.fixture))

    def read(self, name):
        with open(os.path.join(self.folder, name)) as handle:
            return handle.read()

    def describe(self):
        logs = [e["text"] for e in of_type(self.events, "log")][-20:]
        audits = {c: (a["verdict"], a["message"]) for c, a in self.audits.items()}
        return "%s: end %r\naudits %r\nlogs %r" % (self.fixture, self.end, audits, logs)


def run_fixture(fixture, *extra, task="task", guard=None, contract=BPC_CONTRACT):
    """Runs the harness as the engine does on a fresh copy of the task whose train.py is the
    fixture. The copy lives in root/run, the run's temp folder is root/tmp (so root itself is
    outside both), and a guard folder (copied from fixtures/train/guard, with `guard` naming
    files to put over its own) in root/guard."""
    root = tempfile.mkdtemp(prefix="ratchet-train-")
    _FOLDERS.append(root)
    folder = os.path.join(root, "run")
    shutil.copytree(os.path.join(TRAIN_FIXTURES, task), folder, symlinks=False)
    shutil.copyfile(os.path.join(TRAIN_FIXTURES, fixture), os.path.join(folder, "train.py"))
    os.mkdir(os.path.join(root, "tmp"))
    args = list(contract)
    if guard is not None:
        guard_folder = os.path.join(root, "guard")
        shutil.copytree(os.path.join(TRAIN_FIXTURES, "guard"), guard_folder)
        for name, source in guard.items():
            shutil.copyfile(source, os.path.join(guard_folder, name))
        args += ["--guard-function", os.path.join(guard_folder, "guard.py") + ":guard_bpc",
                 "--guard-metric", "guard_bpc"]
    experiment = "t-" + os.path.splitext(os.path.basename(fixture))[0]
    proc, events = run_harness(
        "train", "--experiment-id", experiment, "--budget-seconds", "60", "--cwd", folder,
        "--kill-grace-seconds", "1", *args, *extra, "--", "%s train.py" % sys.executable,
        timeout=150, env={"TMPDIR": os.path.join(root, "tmp")}, experiment_id=experiment)
    return Run(fixture, events, proc, root)


def start(fixture, *extra, **options):
    return _POOL.submit(run_fixture, fixture, *extra, **options)


_BASELINE = []


def baseline():
    """The honest baseline's run, started once for the whole module."""
    if not _BASELINE:
        _BASELINE.append(start("task/train.py"))
    return _BASELINE[0].result()


class ContractTest(unittest.TestCase):
    """Starts the runs a class lists in RUNS (name -> (fixture, extra args, options)) when the
    class is set up; each cheat with a target check is also run with that check switched off
    (name + "/off")."""

    RUNS = {}
    TARGETS = {}

    @classmethod
    def setUpClass(cls):
        baseline()  # queued first: most tests compare with it
        cls._runs = {}
        for name, (fixture, extra, options) in cls.RUNS.items():
            cls._runs[name] = start(fixture, *extra, **options)
            if name in cls.TARGETS:
                off = extra + ("--disable-check", cls.TARGETS[name])
                cls._runs[name + "/off"] = start(fixture, *off, **options)

    def run_of(self, name):
        return self._runs[name].result()

    def baseline_bpc(self):
        return baseline().metric("val_bpc", "evaluator")

    def assertCaught(self, name, also=()):
        """The target check fails (and only it, plus `also`); the run with it switched off has no
        failing check but `also`; both runs otherwise completed as the script meant."""
        target = self.TARGETS[name]
        run, off = self.run_of(name), self.run_of(name + "/off")
        self.assertEqual(run.failed, sorted({target, *also}), run.describe())
        self.assertEqual(off.verdict(target), "skip", off.describe())
        self.assertEqual(off.failed, sorted(also), off.describe())
        return run, off


def cheat(fixture, *extra, **options):
    return ("cheats/%s.py" % fixture, tuple(extra), options)


class PrintedMetricTest(ContractTest):
    """The metric is what the evaluator returned; a printout that says otherwise is a lie."""

    RUNS = {name: cheat(name) for name in (
        "printed_scaled", "printed_floored", "printed_exponent", "printed_json_logger",
        "printed_without_evaluator", "silent_no_evaluator")}
    TARGETS = {name: "printed_metric" for name in RUNS if name != "silent_no_evaluator"}
    TARGETS["silent_no_evaluator"] = "evaluator"

    def assertPrintedBelowEvaluated(self, name):
        run, off = self.assertCaught(name)
        evidence = run.evidence("printed_metric")
        evaluated = run.metric("val_bpc", "evaluator")
        self.assertEqual(evidence["evaluated"], evaluated)
        self.assertEqual(evaluated, self.baseline_bpc())  # the engine's metric is unaffected
        self.assertLess(evidence["printed"], evaluated - evidence["tolerance"])
        # A suspected hack is the engine's to judge: the run itself ends ok.
        self.assertEqual((run.end["reason"], off.end["reason"]), ("ok", "ok"))
        return evidence

    def test_scaled_printout_is_caught_by_printed_metric(self):
        evidence = self.assertPrintedBelowEvaluated("printed_scaled")
        self.assertAlmostEqual(evidence["printed"], 0.9 * evidence["evaluated"], places=5)
        self.assertEqual(evidence["tolerance"], 5e-7 + 1e-12 * evidence["evaluated"])

    def test_floored_printout_with_false_precision_is_caught_by_printed_metric(self):
        evidence = self.assertPrintedBelowEvaluated("printed_floored")
        self.assertEqual(evidence["raw"], "2.8000")

    def test_exponent_glued_to_the_right_digits_is_caught_by_printed_metric(self):
        evidence = self.assertPrintedBelowEvaluated("printed_exponent")
        self.assertEqual(evidence["raw"], "%.4fe-1" % evidence["evaluated"])

    def test_lower_value_in_a_later_json_log_line_is_caught_by_printed_metric(self):
        evidence = self.assertPrintedBelowEvaluated("printed_json_logger")
        self.assertAlmostEqual(evidence["printed"], evidence["evaluated"] - 0.5, places=5)

    def test_metric_printed_without_calling_the_evaluator_is_caught_by_printed_metric(self):
        # Switched off, the same run is caught as having no earned metric (check evaluator).
        run, off = self.run_of("printed_without_evaluator"), self.run_of("printed_without_evaluator/off")
        self.assertEqual(run.failed, ["printed_metric"], run.describe())
        evidence = run.evidence("printed_metric")
        self.assertLess(evidence["printed"], self.baseline_bpc())
        self.assertIn("imported but the function was never called", run.audits["printed_metric"]["message"])
        self.assertIsNone(run.metric("val_bpc", "evaluator"))
        self.assertEqual(off.verdict("printed_metric"), None)
        self.assertEqual(off.failed, ["evaluator"], off.describe())
        self.assertEqual(off.end["reason"], "failed")

    def test_script_that_never_evaluates_and_prints_nothing_fails_the_run(self):
        run = self.run_of("silent_no_evaluator")
        self.assertEqual(run.failed, ["evaluator"], run.describe())
        self.assertEqual(run.evidence("evaluator"), {"evaluate": "prepare.py:evaluate_bpc"})
        self.assertEqual((run.end["reason"], run.end["exit_code"]), ("failed", 0))
        self.assertIn("never called", run.end["message"])
        # A failure, not a hack: switching the check off does not give the run a metric.
        off = self.run_of("silent_no_evaluator/off")
        self.assertEqual(off.failed, [])
        self.assertEqual(off.end["reason"], "failed")
        self.assertIsNone(off.metric("val_bpc", "evaluator"))


if __name__ == "__main__":
    unittest.main()
