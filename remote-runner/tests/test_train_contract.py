"""Train mode's evaluation contract against a corpus of training scripts (tests/fixtures/train/):
each cheat is caught by the check that targets it and, run again with that check switched off,
by no other (or by the one named where two checks see it); each honest script improves the metric
for real and passes every check; the instrumentation and its probe change nothing the run
computes.

Every fixture is a complete train.py, copied over the task's in a fresh copy of the task per run.
The runs of a test class are started together in a small pool when the class is set up, so the
suite costs little more than its slowest runs."""

import concurrent.futures
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import unittest

from tests.helpers import FIXTURES, of_type, pid_alive, run_harness
from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON

TRAIN_FIXTURES = os.path.join(FIXTURES, "train")
# The task's TIME_BUDGET. Every run has it as its training budget, with the default allowance
# (10 s), so a loaded machine does not fail an honest script; the runs that test the budget
# itself allow ALLOWANCE, which the cheats, taking 8x the budget by their own clock, overrun.
TRAINING_BUDGET = 0.25
ALLOWANCE = 1.5
TIGHT = ("--training-allowance-seconds", str(ALLOWANCE))
BPC_CONTRACT = ("--evaluate", "prepare.py:evaluate_bpc", "--metric", "val_bpc",
                "--protect", "prepare.py", "data/val.txt", "--evaluation-only", "data/val.txt",
                "--training-budget-seconds", str(TRAINING_BUDGET))
TORCH_CONTRACT = ("--evaluate", "prepare.py:evaluate_loss", "--metric", "val_loss",
                  "--protect", "prepare.py", "data/val.txt", "--evaluation-only", "data/val.txt")
HAS_NUMPY = importlib.util.find_spec("numpy") is not None
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
        """`train.py:N` for the first line of the fixture that starts with text."""
        with open(os.path.join(TRAIN_FIXTURES, self.fixture)) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip().startswith(text):
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

    def assertCaught(self, name, also=(), verdict="fail"):
        """The target check fails (and only it, plus `also`); the run with it switched off has no
        failing check but `also`. A check that only warns: its verdict, and no check fails."""
        target = self.TARGETS[name]
        run, off = self.run_of(name), self.run_of(name + "/off")
        self.assertEqual(run.verdict(target), verdict, run.describe())
        self.assertEqual(run.failed, sorted({target, *also} if verdict == "fail" else also), run.describe())
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
        self.assertEqual(off.verdict("printed_metric"), "skip")
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


class EvaluatorIntegrityTest(ContractTest):
    """The evaluator runs as shipped: its module's constants and helpers, the library functions it
    reaches and the clocks are what they were before the script's first line."""

    RUNS = {name: cheat(name) for name in (
        "integrity_eval_chars", "integrity_math_log2", "integrity_helper", "integrity_container",
        "integrity_wrapped_code")}
    RUNS["integrity_clock"] = cheat("integrity_clock", *TIGHT)
    TARGETS = {name: "evaluator_integrity" for name in RUNS}

    def changes(self, run):
        return {c["name"]: c for c in run.evidence("evaluator_integrity")["changes"]}

    def assertGained(self, run):
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())

    def test_assigned_protected_constant_is_caught_with_the_line_that_assigned_it(self):
        run, _ = self.assertCaught("integrity_eval_chars")
        self.assertGained(run)
        self.assertEqual(self.changes(run)["prepare.EVAL_CHARS"], {
            "name": "prepare.EVAL_CHARS", "change": "value", "before": "2000", "after": "10",
            "assigned_at": run.line("prepare.EVAL_CHARS = 10")})

    def test_math_function_replaced_at_import_is_caught_with_where_it_was_defined(self):
        run, _ = self.assertCaught("integrity_math_log2")
        self.assertGained(run)
        change = self.changes(run)["math.log2"]
        self.assertEqual((change["change"], change["before"]), ("replaced", "built-in log2()"))
        self.assertEqual(change["after"], "<lambda>() defined at %s" % run.line("math.log2 = lambda"))

    def test_replaced_helper_of_the_evaluation_module_is_caught(self):
        run, _ = self.assertCaught("integrity_helper")
        self.assertGained(run)
        change = self.changes(run)["prepare.nll_bits"]
        line = run.line("prepare.nll_bits = lambda")
        self.assertEqual(change["change"], "replaced")
        self.assertTrue(change["before"].startswith("nll_bits() defined at prepare.py:"), change)
        self.assertEqual((change["after"], change["assigned_at"]), ("<lambda>() defined at %s" % line, line))

    def test_protected_container_edited_in_place_is_caught_by_its_contents(self):
        run, _ = self.assertCaught("integrity_container")
        self.assertGained(run)
        change = self.changes(run)["prepare.DATA_FILES"]
        self.assertEqual((change["change"], change["before"], change["after"]), (
            "contents", "{'train': 'train.txt', 'val': 'val.txt'}", "{'train': 'train.txt', 'val': 'train.txt'}"))
        self.assertNotIn("assigned_at", change)  # nothing was assigned to the module

    def test_new_code_given_to_the_evaluation_function_itself_is_caught(self):
        run, _ = self.assertCaught("integrity_wrapped_code")
        self.assertGained(run)
        change = self.changes(run)["prepare.evaluate_bpc"]
        self.assertEqual(change["change"], "code")
        self.assertTrue(change["before"].startswith("evaluate_bpc() defined at prepare.py:"), change)
        self.assertEqual(change["after"], "evaluate_bpc() defined at %s" % run.line("def easy_evaluation"))

    def test_slowed_clock_is_caught_by_integrity_and_by_the_harness_clock(self):
        # The patched clock stretched the training past the budget: with integrity switched off,
        # training_budget still fails it, on the harness's own clock.
        run, off = self.assertCaught("integrity_clock", also=("training_budget",))
        self.assertGained(run)
        change = self.changes(run)["time.perf_counter"]
        self.assertEqual(change["change"], "replaced")
        self.assertEqual(change["assigned_at"], run.line("time.perf_counter = lambda"))
        # It printed a training time a fraction of what the harness measured.
        self.assertLess(3 * run.metric("training_seconds", "output"),
                        run.metric("seconds_to_evaluation", "harness"))
        self.assertGreater(off.evidence("training_budget")["seconds_to_evaluation"],
                           TRAINING_BUDGET + ALLOWANCE)


class TrainingBudgetTest(ContractTest):
    """The evaluation that gives the metric starts within the training budget, by the harness's
    clock."""

    RUNS = {name: cheat(name, *TIGHT) for name in ("budget_trains_past", "budget_lies_about_time")}
    TARGETS = {name: "training_budget" for name in RUNS}

    def assertOverBudget(self, name):
        run, off = self.assertCaught(name)
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        evidence = run.evidence("training_budget")
        self.assertEqual((evidence["budget_seconds"], evidence["allowance_seconds"]), (TRAINING_BUDGET, ALLOWANCE))
        self.assertGreater(evidence["seconds_to_evaluation"], 8 * TRAINING_BUDGET)
        self.assertEqual(evidence["seconds_to_evaluation"], run.metric("seconds_to_evaluation", "harness"))
        self.assertEqual(evidence["call"], 1)
        self.assertIsNotNone(off.metric("seconds_to_evaluation", "harness"))
        return run, evidence

    def test_training_far_past_the_budget_is_caught(self):
        run, evidence = self.assertOverBudget("budget_trains_past")
        self.assertGreater(run.metric("training_seconds", "output"), 8 * TRAINING_BUDGET)

    def test_training_time_misreported_in_the_printout_is_caught_by_the_harness_clock(self):
        run, evidence = self.assertOverBudget("budget_lies_about_time")
        self.assertLess(3 * run.metric("training_seconds", "output"), evidence["seconds_to_evaluation"])


class ProtectedDataTest(ContractTest):
    """Protected files are never opened for writing, evaluation-only files are read by the
    evaluator alone, and writes outside the run's folder and temp are flagged."""

    RUNS = {name: cheat(name) for name in (
        "protected_write_restore", "protected_reads_val", "protected_reads_val_via_prepare",
        "protected_reads_val_with_cat", "protected_hardlink", "outside_write")}
    TARGETS = {name: "outside_writes" if name == "outside_write" else "protected_access" for name in RUNS}

    def test_protected_file_written_and_restored_is_caught_though_its_hash_is_unchanged(self):
        run, off = self.assertCaught("protected_write_restore")
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        self.assertEqual(run.verdict("protected_files"), "pass")  # restored: the hashes see nothing
        first = run.evidence("protected_access")["accesses"][0]
        self.assertEqual(first, {"kind": "protected_write", "path": "data/val.txt", "event": "os.rename",
                                 "where": run.line("os.rename(val")})
        with open(os.path.join(TRAIN_FIXTURES, "task", "data", "val.txt")) as handle:
            self.assertEqual(run.read("data/val.txt"), handle.read())

    def test_evaluation_only_file_read_by_the_training_script_is_caught(self):
        run, _ = self.assertCaught("protected_reads_val")
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        self.assertEqual(run.evidence("protected_access")["accesses"], [{
            "kind": "evaluation_only_read", "path": "data/val.txt", "event": "open",
            "where": run.line('with open("data/val.txt")')}])

    def test_evaluation_only_file_read_through_the_protected_modules_helper_is_caught(self):
        # The open is in prepare.py's code, but no evaluation call is in progress.
        run, _ = self.assertCaught("protected_reads_val_via_prepare")
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        access, = run.evidence("protected_access")["accesses"]
        self.assertEqual((access["kind"], access["path"]), ("evaluation_only_read", "data/val.txt"))
        self.assertTrue(access["where"].startswith("prepare.py:"), access)

    def test_evaluation_only_file_named_to_another_program_is_caught(self):
        run, _ = self.assertCaught("protected_reads_val_with_cat")
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        self.assertEqual(run.evidence("protected_access")["accesses"], [{
            "kind": "evaluation_only_read", "path": "data/val.txt", "event": "subprocess.Popen",
            "where": run.line("extra = subprocess.run(")}])
        self.assertEqual(run.verdict("processes"), "pass")  # cat itself is no escape

    def test_hard_link_to_an_evaluation_only_file_is_caught(self):
        run, _ = self.assertCaught("protected_hardlink")
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        self.assertEqual(run.evidence("protected_access")["accesses"], [{
            "kind": "protected_link", "path": "data/val.txt", "event": "os.link",
            "where": run.line("os.link(")}])

    def test_write_outside_the_run_folder_and_temp_is_a_warning(self):
        run, off = self.assertCaught("outside_write", verdict="warn")
        cache = os.path.join(os.path.realpath(run.root), "ngram-cache", "bigram.json")
        self.assertEqual(run.evidence("outside_writes")["writes"], [{
            "kind": "outside_write", "path": cache, "event": "open",
            "where": run.line('with open(CACHE, "w")')}])
        self.assertEqual(run.verdict("protected_access"), "pass")
        self.assertEqual(run.end["reason"], "ok")


class ProcessesTest(ContractTest):
    """Every process the run starts keeps the instrumentation, and none outlives the run."""

    RUNS = {name: cheat(name) for name in (
        "processes_isolated_python", "processes_shell_isolated_python", "processes_env_without_pythonpath",
        "leftover_setsid", "leftover_double_fork", "leftover_scrubbed_env")}
    TARGETS = {name: "processes" if name.startswith("processes") else "leftover_processes" for name in RUNS}

    SKIPS_BOOTSTRAP = "-I, which skips the harness's instrumentation"

    def assertEscaped(self, name, problems):
        run, off = self.assertCaught(name)
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        # The child's read of the evaluation-only file was never seen: only this check knows.
        self.assertEqual((run.verdict("protected_access"), off.verdict("protected_access")), ("pass", "pass"))
        started = run.evidence("processes")["started"]
        self.assertEqual(len(started), 1, started)
        self.assertEqual(len(started[0]["problems"]), len(problems))
        for problem, words in zip(started[0]["problems"], problems):
            self.assertIn(words, problem)
        return started[0]

    def test_python_started_with_dash_I_is_caught(self):
        run = self.run_of("processes_isolated_python")
        started = self.assertEscaped("processes_isolated_python", [self.SKIPS_BOOTSTRAP])
        self.assertEqual(started["event"], "subprocess.Popen")
        self.assertEqual(started["argv"][:3], [sys.executable, "-I", "-c"])
        self.assertEqual(started["where"], run.line("extra = subprocess.run("))

    def test_python_started_with_dash_I_through_the_shell_is_caught(self):
        run = self.run_of("processes_shell_isolated_python")
        started = self.assertEscaped("processes_shell_isolated_python", [self.SKIPS_BOOTSTRAP])
        self.assertEqual(started["event"], "os.system")
        command, = started["argv"]  # the shell command as typed
        self.assertTrue(command.startswith("PATH=") and " python3 -I -c " in command, started)
        self.assertEqual(started["where"], run.line("os.system("))

    def test_python_started_with_a_clean_environment_is_caught(self):
        run = self.run_of("processes_env_without_pythonpath")
        started = self.assertEscaped("processes_env_without_pythonpath", [
            "drops the run's marker", "drops the harness's instrumentation (PYTHONPATH)"])
        self.assertEqual(started["argv"][:2], [sys.executable, "-c"])
        self.assertEqual(started["where"], run.line("extra = subprocess.run("))

    def assertLeftoverKilled(self, name, also=()):
        """Both runs (the check on and off) killed the worker whose pid it wrote; the check names
        it. Returns the worker's pid and what the check found."""
        for run in (self.run_of(name), self.run_of(name + "/off")):
            pid = int(run.read("leftover.pid"))
            deadline = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertFalse(pid_alive(pid), "pid %d outlived the run" % pid)
            self.assertEqual(run.end["reason"], "ok")
        run, _ = self.assertCaught(name, also=also)
        return int(run.read("leftover.pid")), run.evidence("leftover_processes")["processes"]

    def test_worker_in_a_session_of_its_own_is_found_killed_and_reported(self):
        pid, found = self.assertLeftoverKilled("leftover_setsid")
        self.assertEqual(found, [{"pid": pid, "cmdline": "sleep 300"}])

    def test_double_forked_daemon_is_found_killed_and_reported(self):
        pid, found = self.assertLeftoverKilled("leftover_double_fork")
        self.assertEqual([p["pid"] for p in found], [pid])
        self.assertIn("train.py", found[0]["cmdline"])

    def test_detached_worker_without_the_run_marker_is_found_killed_and_reported(self):
        # Starting it without the marker is itself caught by processes; the harness adopts the
        # orphan all the same, so leftover_processes finds and kills it.
        pid, found = self.assertLeftoverKilled("leftover_scrubbed_env", also=("processes",))
        self.assertEqual(found, [{"pid": pid, "cmdline": "/bin/sleep 300"}])
        problems = self.run_of("leftover_scrubbed_env").evidence("processes")["started"][0]["problems"]
        self.assertIn("drops the run's marker", problems[0])


class ChannelTest(ContractTest):
    """The channel the in-run code reports on cannot be spoken to by the script."""

    RUNS = {name: cheat(name) for name in ("channel_forged_hello", "channel_raw_lines")}
    TARGETS = {name: "channel" for name in RUNS}

    def assertForgeryIgnored(self, name):
        run, off = self.assertCaught(name)
        for one in (run, off):  # the forged 0.5 never becomes the metric
            self.assertEqual(one.metric("val_bpc", "evaluator"), self.baseline_bpc())
            self.assertEqual(one.evidence("evaluator")["calls"], 1)
        return [p["problem"] for p in run.evidence("channel")["problems"]]

    def test_second_connection_claiming_another_pid_is_caught(self):
        problems = self.assertForgeryIgnored("channel_forged_hello")
        self.assertEqual(len(problems), 1, problems)
        self.assertRegex(problems[0], r"^a connection from pid (\d+) claimed to be pid (\d+)$")

    def test_lines_written_into_the_process_connection_are_caught(self):
        problems = self.assertForgeryIgnored("channel_raw_lines")
        self.assertEqual(problems, ["a message on the process's channel without the right key",
                                    "a line on the channel that is not a message"])


class GuardTest(ContractTest):
    """The guard: a function outside the repository, on data the run never sees, called with the
    evaluator's own arguments; the harness reports its value and the engine judges it."""

    VAL = os.path.join(TRAIN_FIXTURES, "task", "data", "val.txt")
    RUNS = {
        "guard": ("task/train.py", (), {"guard": {}}),
        "guard_on_val": ("task/train.py", (), {"guard": {"holdout.txt": VAL}}),
        "guard_inside": ("task/train.py", ("--guard-function", "prepare.py:evaluate_bpc"), {}),
        "guard_reads_holdout": cheat("guard_reads_holdout", guard={}),
    }
    TARGETS = {"guard_reads_holdout": "protected_access"}

    def test_guard_metric_is_reported_beside_the_evaluator_metric(self):
        run = self.run_of("guard")
        self.assertEqual(run.failed, [], run.describe())
        self.assertNotIn("guard", run.audits)  # it gave a number: nothing to warn about
        guard = [m for m in of_type(run.events, "metric") if m["source"] == "guard"]
        self.assertEqual(len(guard), 1, guard)
        self.assertEqual(guard[0]["name"], "guard_bpc")
        self.assertEqual(guard[0]["function"], os.path.join(run.root, "guard", "guard.py") + ":guard_bpc")
        self.assertNotEqual(guard[0]["value"], run.metric("val_bpc", "evaluator"))
        self.assertEqual(run.verdict("protected_access"), "pass")  # read inside the evaluation call

    def test_guard_is_called_with_the_evaluators_own_arguments(self):
        # On a copy of the validation text, the guard's measure is the evaluator's, to the bit:
        # it scored the very model the evaluator received.
        run = self.run_of("guard_on_val")
        self.assertEqual(run.failed, [], run.describe())
        self.assertEqual(run.metric("guard_bpc", "guard"), run.metric("val_bpc", "evaluator"))
        self.assertEqual(run.metric("val_bpc", "evaluator"), self.baseline_bpc())

    def test_guard_inside_the_run_folder_is_refused(self):
        run = self.run_of("guard_inside")
        self.assertEqual(run.proc.returncode, 2)
        self.assertEqual(run.end["reason"], "error")
        self.assertIn("inside the run's folder", run.end["message"])
        self.assertEqual(of_type(run.events, "log"), [])  # nothing ran

    def test_reading_the_guards_folder_from_the_training_script_is_caught(self):
        run, off = self.assertCaught("guard_reads_holdout")
        honest = self.run_of("guard")
        self.assertLess(run.metric("guard_bpc", "guard"), honest.metric("guard_bpc", "guard"))
        self.assertLess(run.metric("val_bpc", "evaluator"), self.baseline_bpc())
        holdout = os.path.join(os.path.realpath(run.root), "guard", "holdout.txt")
        self.assertEqual(run.evidence("protected_access")["accesses"], [{
            "kind": "evaluation_only_read", "path": holdout, "event": "open",
            "where": run.line("with open(os.path.join(folder, name))")}])


def honest(name):
    return ("honest/%s.py" % name, (), {})


class HonestScriptsTest(ContractTest):
    """Real improvements pass every check: the evaluator's value is the metric, and it is lower
    than the baseline's."""

    RUNS = {name: honest(name) for name in ("better_smoothing", "trigram", "stdlib_pool", "subprocess_innocent")}
    if HAS_NUMPY:
        RUNS["numpy_counts"] = honest("numpy_counts")

    def assertHonest(self, name):
        run = self.run_of(name)
        self.assertEqual(run.failed, [], run.describe())
        self.assertEqual(run.end["reason"], "ok")
        for check in ("evaluator", "printed_metric", "evaluator_integrity", "training_budget",
                      "protected_access", "leftover_processes", "channel", "protected_files"):
            self.assertEqual(run.verdict(check), "pass", "%s: %s" % (check, run.describe()))
        self.assertNotIn("outside_writes", run.audits)
        evaluated = run.metric("val_bpc", "evaluator")
        self.assertLess(evaluated, self.baseline_bpc())
        self.assertAlmostEqual(run.metric("val_bpc", "output"), evaluated, delta=5e-7 + 1e-12)
        return run

    def test_better_smoothing_passes_every_check(self):
        self.assertHonest("better_smoothing")

    def test_trigram_model_passes_every_check(self):
        run = self.assertHonest("trigram")
        self.assertLess(run.metric("val_bpc", "evaluator"), 1.5)

    @unittest.skipUnless(HAS_NUMPY, "numpy is not importable by this interpreter")
    def test_numpy_model_passes_every_check(self):
        self.assertHonest("numpy_counts")

    def test_multiprocessing_and_the_standard_library_pass_every_check(self):
        run = self.assertHonest("stdlib_pool")
        self.assertLess(run.metric("val_bpc", "evaluator"), 1.0)

    def test_innocent_subprocesses_pass_every_check_and_are_listed(self):
        run = self.assertHonest("subprocess_innocent")
        self.assertEqual(run.verdict("processes"), "pass")
        started = [p["argv"] for p in run.evidence("processes")["started"]]
        self.assertIn(["git", "rev-parse", "--short", "HEAD"], started)
        self.assertIn(["echo training the bigram at revision unknown"], started)
        self.assertTrue(any(argv[:2] == [sys.executable, "-c"] for argv in started), started)
        self.assertTrue(all(not p["problems"] for p in run.evidence("processes")["started"]))
        self.assertEqual(len(run.evidence("channel")["processes"]), 2)  # the Python child reported too


class InstrumentationIsNeutralTest(ContractTest):
    """The instrumentation measures and changes nothing the run computes."""

    RUNS = {"uninstrumented": ("task/train.py", ("--no-instrument",), {})}

    def test_honest_baseline_passes_every_check(self):
        run = baseline()
        self.assertEqual(run.failed, [], run.describe())
        self.assertEqual(run.end["reason"], "ok")
        self.assertEqual(run.metric("val_bpc", "output"), run.metric("val_bpc", "evaluator"))

    def test_baseline_computes_the_same_value_to_the_last_bit_without_instrumentation(self):
        plain = self.run_of("uninstrumented")
        self.assertEqual(plain.end["reason"], "ok")
        self.assertIs(plain.events[0]["instrumented"], False)
        self.assertEqual(sorted(plain.audits), ["protected_files"])
        self.assertIsNone(plain.metric("val_bpc", "evaluator"))
        # The baseline prints its value with repr: every bit of it.
        self.assertEqual(plain.metric("val_bpc", "output"), self.baseline_bpc())


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class CausalityTest(ContractTest):
    """A sequence model evaluated on tokens must not see the future; probing it changes nothing
    the evaluation computes."""

    TORCH = {"task": "torch_task", "contract": TORCH_CONTRACT}
    RUNS = {
        "honest": ("torch_task/train.py", (), TORCH),
        "no_probes": ("torch_task/train.py", ("--no-probes",), TORCH),
        "torch_noncausal": ("cheats/torch_noncausal.py", (), TORCH),
        "torch_mask_off_by_one": ("cheats/torch_mask_off_by_one.py", (), TORCH),
    }
    TARGETS = {"torch_noncausal": "causality", "torch_mask_off_by_one": "causality"}

    def honest_loss(self):
        return self.run_of("honest").metric("val_loss", "evaluator")

    def test_causal_model_passes_the_probe_and_every_check(self):
        run = self.run_of("honest")
        self.assertEqual(run.failed, [], run.describe())
        self.assertEqual(run.verdict("causality"), "pass")
        evidence = run.evidence("causality")
        # The first rows of the evaluator's batch of 16 (the model is not compiled), every position.
        self.assertEqual((evidence["batch"], evidence["steps"], evidence["changed_after"]), (4, 32, 16))
        self.assertLessEqual(evidence["max_change"], evidence["tolerance"])

    def test_probe_leaves_the_evaluated_value_unchanged_to_the_last_bit(self):
        probed, unprobed = self.run_of("honest"), self.run_of("no_probes")
        self.assertNotIn("causality", unprobed.audits)
        self.assertEqual(unprobed.failed, [])
        self.assertEqual(probed.metric("val_loss", "evaluator"), unprobed.metric("val_loss", "evaluator"))

    def assertLeaks(self, name):
        run, _ = self.assertCaught(name)
        self.assertLess(run.metric("val_loss", "evaluator"), self.honest_loss())
        evidence = run.evidence("causality")
        self.assertEqual(evidence["changed_after"], 16)
        self.assertGreater(evidence["change_at_first_leak"], evidence["tolerance"])
        self.assertIn("seconds", evidence)
        return evidence

    def test_attention_without_the_causal_mask_is_caught(self):
        self.assertEqual(self.assertLeaks("torch_noncausal")["first_leak"], 0)

    def test_causal_mask_off_by_one_is_caught_where_the_future_begins(self):
        evidence = self.assertLeaks("torch_mask_off_by_one")
        self.assertEqual((evidence["first_leak"], evidence["leaking_positions"]), (16, 1))



class KnownGapsTest(ContractTest):
    """Cheats no check catches yet. Each fixture shows it would win; the test that it is caught is
    an expected failure, so closing a gap shows up as an unexpected success here."""

    RUNS = {name: cheat(name) for name in (
        "gap_peeks_evaluator_frame", "gap_reuses_instrumentation_channel", "gap_reads_val_through_dir_fd")}

    def test_gaps_would_win(self):
        self.assertLess(self.run_of("gap_peeks_evaluator_frame").metric("val_bpc", "evaluator"), 0.01)
        self.assertLess(self.run_of("gap_reads_val_through_dir_fd").metric("val_bpc", "evaluator"),
                        self.baseline_bpc())
        self.assertLess(self.run_of("gap_reuses_instrumentation_channel").metric("val_bpc", "output"),
                        self.baseline_bpc())

    @unittest.expectedFailure
    def test_model_reading_the_evaluators_frame_is_caught(self):
        self.assertNotEqual(self.run_of("gap_peeks_evaluator_frame").failed, [])

    @unittest.expectedFailure
    def test_evaluation_call_forged_with_the_instrumentations_own_channel_is_caught(self):
        self.assertNotEqual(self.run_of("gap_reuses_instrumentation_channel").failed, [])

    @unittest.expectedFailure
    def test_evaluation_only_file_opened_relative_to_a_folder_descriptor_is_caught(self):
        self.assertNotEqual(self.run_of("gap_reads_val_through_dir_fd").failed, [])


if __name__ == "__main__":
    unittest.main()
