"""Kernel mode end to end on the CPU: each cheating fixture is caught by the check written for
it, and the honest candidate passes every check."""

import unittest

from tests.helpers import of_type
from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON, failed_checks, run_fixture

FAST = ("--trials", "2", "--skip-timing")


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class KernelModeOnCpuTest(unittest.TestCase):
    def assertCaughtBy(self, events, check):
        self.assertIn(check, failed_checks(events))
        self.assertEqual(events[-1]["reason"], "failed")

    def test_honest_candidate_passes_every_check_and_is_timed(self):
        events = run_fixture("honest_naive", "--trials", "2", "--iterations", "5")
        self.assertEqual(failed_checks(events), [])
        self.assertEqual(events[-1]["reason"], "ok")
        roles = {(t["shape"], t["role"]) for t in of_type(events, "timing")}
        self.assertEqual(roles, {("64x256", "reference"), ("64x256", "candidate"),
                                 ("33x1000", "reference"), ("33x1000", "candidate")})
        correct = [m for m in of_type(events, "metric") if m["name"] == "correct"]
        self.assertEqual(correct[0]["value"], 1.0)

    def test_wrong_math_is_caught_by_correctness(self):
        events = run_fixture("cheat_wrong_math", *FAST)
        self.assertCaughtBy(events, "correctness")
        self.assertEqual(of_type(events, "timing"), [], "a wrong candidate is not timed")

    def test_lower_precision_inside_a_loose_tolerance_is_caught_by_precision(self):
        events = run_fixture("cheat_low_precision", *FAST)
        self.assertEqual(failed_checks(events), ["precision"])

    def test_writing_into_the_input_is_caught_by_input_mutation(self):
        events = run_fixture("cheat_edits_input", *FAST)
        self.assertIn("input_mutation", failed_checks(events))

    def test_answer_cached_on_the_input_object_is_caught_by_state(self):
        events = run_fixture("cheat_caches_last_call", *FAST)
        self.assertEqual(failed_checks(events), ["state"])

    def test_skipping_work_once_timed_is_caught_by_timed_outputs(self):
        events = run_fixture("cheat_degrades_when_timed", "--trials", "2", "--iterations", "30")
        self.assertEqual(failed_checks(events), ["timed_outputs"])

    def test_tensor_subclass_output_is_caught_by_output_type(self):
        events = run_fixture("cheat_lazy_subclass", *FAST)
        self.assertIn("output_type", failed_checks(events))

    def test_replaced_timer_is_caught_by_monkeypatch(self):
        events = run_fixture("cheat_patches_timer", "--trials", "2")
        self.assertEqual(failed_checks(events), ["monkeypatch"])

    def test_work_handed_to_a_thread_is_caught_by_threads(self):
        events = run_fixture("cheat_background_thread", *FAST)
        self.assertIn("threads", failed_checks(events))

    def test_fallback_to_the_reference_is_caught_statically(self):
        events = run_fixture("cheat_calls_reference", *FAST)
        self.assertEqual(failed_checks(events), ["static"])

    def test_forbidden_library_call_is_caught_statically(self):
        events = run_fixture("cheat_library_call", *FAST)
        self.assertEqual(failed_checks(events), ["static"])

    def test_candidate_specialised_to_the_listed_shapes_is_caught_by_perturbed_shapes(self):
        events = run_fixture("cheat_exact_shapes", *FAST)
        self.assertEqual(failed_checks(events), ["perturbed_shapes"])

    def test_launch_and_l2_checks_skip_with_a_reason_on_the_cpu(self):
        events = run_fixture("cheat_cached_answer", *FAST)
        audits = {a["check"]: a for a in of_type(events, "audit")}
        self.assertEqual(audits["launches"]["verdict"], "skip")
        self.assertIn("CUDA", audits["launches"]["message"])
        self.assertEqual(audits["l2_persistence"]["verdict"], "skip")

    def test_candidate_that_does_not_import_fails_load_and_is_not_timed(self):
        events = run_source_candidate("raise RuntimeError('boom')\n")
        self.assertIn("load", failed_checks(events))
        self.assertEqual(of_type(events, "timing"), [])

    def test_a_candidate_that_writes_a_protected_file_fails_protected_files(self):
        import os
        import shutil
        import tempfile
        from tests.helpers import run_harness
        from tests.kernel_helpers import KERNEL_FIXTURES
        folder = tempfile.mkdtemp()
        try:
            task = os.path.join(folder, "task")
            shutil.copytree(KERNEL_FIXTURES, task)
            with open(os.path.join(task, "sneaky.py"), "w", encoding="utf-8") as handle:
                handle.write("import os\n"
                             "with open(os.path.join(os.path.dirname(__file__), 'task.json'),"
                             " 'a') as f:\n    f.write(' ')\n"
                             "from honest_naive import ModelNew\n")
            _, events = run_harness("kernel", "--experiment-id", "k", "--task", task,
                                    "--candidate", os.path.join(task, "sneaky.py"),
                                    "--device", "cpu", "--skip-timing", "--trials", "1",
                                    "--cwd", folder, "--protect", "task/task.json",
                                    "task/reference.py", "--env", "PYTHONPATH_EXTRA=1",
                                    experiment_id="k")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        audits = {a["check"]: a for a in of_type(events, "audit")}
        self.assertEqual(audits["protected_files"]["verdict"], "fail")
        self.assertEqual(audits["protected_files"]["evidence"]["changed"], ["task/task.json"])
        self.assertEqual(events[-1]["reason"], "failed")

    def test_budget_seconds_stops_a_slow_candidate_with_timeout(self):
        events = run_source_candidate("import time\ntime.sleep(60)\n", "--budget-seconds", "2",
                                      timeout=60)
        self.assertEqual(events[-1]["reason"], "timeout")
        self.assertLess(events[-1]["wall_seconds"], 20)


def run_source_candidate(source, *extra, timeout=None):
    """The kernel-mode events for a candidate written from `source` into a temporary file,
    checked against the fixture task on the CPU."""
    import os
    import tempfile
    from tests.helpers import run_harness
    from tests.kernel_helpers import KERNEL_FIXTURES
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    try:
        options = {"timeout": timeout} if timeout else {}
        _, events = run_harness("kernel", "--experiment-id", "k", "--task", KERNEL_FIXTURES,
                                "--candidate", handle.name, "--device", "cpu", *extra,
                                experiment_id="k", **options)
    finally:
        os.unlink(handle.name)
    return events


class KernelModeWithoutTorchTest(unittest.TestCase):
    def test_missing_task_ends_with_error_and_a_fix(self):
        from tests.helpers import run_harness
        _, events = run_harness("kernel", "--experiment-id", "k", "--candidate", "x.py",
                                experiment_id="k")
        self.assertEqual(events[-1]["reason"], "error")
        self.assertIn("--task", events[-1]["message"])


if __name__ == "__main__":
    unittest.main()
