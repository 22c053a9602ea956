"""SOL-ExecBench problems run as they are: definition.json + workload.jsonl + solution.json."""

import os
import shutil
import tempfile
import unittest

from tests.helpers import FIXTURES, of_type, run_harness
from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON, failed_checks

PROBLEM = os.path.join(FIXTURES, "solexec", "row_softmax")


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
def run_solution(problem, name):
    """Kernel-mode events for one solution of a problem folder, on the CPU, briefly."""
    _, events = run_harness("kernel", "--experiment-id", "sx", "--problem", problem,
                            "--candidate", os.path.join(problem, name), "--device", "cpu",
                            "--trials", "2", "--iterations", "3", experiment_id="sx")
    return events


class SolExecProblemTest(unittest.TestCase):
    def run_solution(self, name):
        return run_solution(PROBLEM, name)

    def test_correct_solution_passes_and_is_timed_on_every_workload(self):
        events = self.run_solution("solution.json")
        self.assertEqual(failed_checks(events), [])
        self.assertEqual({t["shape"] for t in of_type(events, "timing")},
                         {"w0-a1b2c3d4", "w1-a1b2c3d4"})

    def test_wrong_solution_fails_correctness(self):
        events = self.run_solution("solution_wrong.json")
        self.assertIn("correctness", failed_checks(events))

    def test_destination_passing_style_is_the_default_and_works(self):
        events = self.run_solution("solution_dps.json")
        self.assertEqual(failed_checks(events), [])

    def test_dps_solution_that_never_writes_its_output_reads_nan_and_fails(self):
        events = self.run_solution("solution_dps_unwritten.json")
        self.assertIn("correctness", failed_checks(events))

    def test_perturbed_workload_is_checked(self):
        events = self.run_solution("solution.json")
        audits = {a["check"]: a for a in of_type(events, "audit")}
        self.assertEqual(audits["perturbed_shapes"]["verdict"], "pass")
        self.assertEqual(audits["perturbed_shapes"]["evidence"]["checked"], ["p-num_rows=9"])


class UnreadableProblemTest(unittest.TestCase):
    """A problem folder the harness cannot read still ends the run in the protocol, with a
    message that says where the problem is."""

    def end_for(self, edit):
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "p")
            shutil.copytree(os.path.join(FIXTURES, "solexec", "kept_dim"), folder)
            edit(folder)
            proc, events = run_harness("kernel", "--experiment-id", "sx", "--problem", folder,
                                       "--candidate", os.path.join(folder, "solution.json"),
                                       "--device", "cpu", experiment_id="sx")
        self.assertEqual(proc.returncode, 2)
        (end,) = of_type(events, "end")
        self.assertEqual(end["reason"], "error")
        return end["message"]

    def test_a_truncated_workload_line_is_named_by_its_number(self):
        def truncate(folder):
            with open(os.path.join(folder, "workload.jsonl"), "a") as handle:
                handle.write('{"uuid": "x", "axes": \n')
        self.assertRegex(self.end_for(truncate), r"workload\.jsonl line 3 is not JSON")

    def test_a_workload_of_an_unexpected_shape_still_ends_the_run(self):
        def scalar_inputs(folder):
            with open(os.path.join(folder, "workload.jsonl"), "w") as handle:
                handle.write('{"uuid": "y", "axes": {"num_rows": 4}, "inputs": 5}\n')
        self.assertIn("cannot read the task: AttributeError", self.end_for(scalar_inputs))


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class SolExecInputsTest(unittest.TestCase):
    def run_problem(self, folder, solution="solution.json"):
        _, events = run_harness("kernel", "--experiment-id", "sx", "--problem", folder,
                                "--candidate", os.path.join(folder, solution), "--device", "cpu",
                                "--trials", "2", "--iterations", "3", experiment_id="sx")
        return events

    def test_sizes_written_as_digit_strings_in_shapes_are_generated_and_checked(self):
        events = self.run_problem(os.path.join(FIXTURES, "solexec", "kept_dim"))
        self.assertEqual(of_type(events, "end")[0]["reason"], "ok")
        self.assertEqual(failed_checks(events), [])
        self.assertEqual({t["shape"] for t in of_type(events, "timing")},
                         {"w0-b7c8d9e0", "w1-b7c8d9e0"})

    def test_safetensors_inputs_are_read_and_the_workload_tolerance_applies(self):
        import struct
        from ratchet_harness import safetensors
        source = os.path.join(FIXTURES, "solexec", "rmsnorm_st")
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "rmsnorm_st")
            shutil.copytree(source, folder)
            values = [((i * 37) % 101) / 50.0 - 1.0 for i in range(16 * 64)]
            weight = [0.5 + (i % 7) / 10.0 for i in range(64)]
            safetensors.write(os.path.join(folder, "inputs.safetensors"), {
                "input": ("float32", [16, 64], struct.pack("<%df" % len(values), *values)),
                "weight": ("float32", [64], struct.pack("<64f", *weight))})
            events = self.run_problem(folder)
        self.assertEqual(failed_checks(events), [])
        start = of_type(events, "start")[0]
        self.assertEqual(start["task"]["shapes"], ["w0-st000001"])

    def test_custom_inputs_come_from_the_definitions_generator(self):
        events = self.run_problem(os.path.join(FIXTURES, "solexec", "ragged_custom"))
        self.assertEqual(failed_checks(events), [])
        self.assertEqual(len(of_type(events, "timing")), 2)


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class InPlaceReferenceTest(unittest.TestCase):
    """Some problems' references update an input in place (an accumulation buffer): a candidate
    may do the same to that input, but not to the others."""

    def run_solution(self, name):
        return run_solution(os.path.join(FIXTURES, "solexec", "inplace_accumulate"), name)

    def test_a_candidate_that_copies_the_accumulator_passes(self):
        events = self.run_solution("solution_copy.json")
        self.assertEqual(failed_checks(events), [])
        self.assertEqual(len(of_type(events, "timing")), 4)

    def test_a_candidate_that_updates_the_same_input_in_place_passes(self):
        events = self.run_solution("solution_inplace.json")
        self.assertEqual(failed_checks(events), [])
        timed = [a for a in of_type(events, "audit") if a["check"] == "timed_outputs"]
        self.assertEqual([a["verdict"] for a in timed], ["skip"])

    def test_a_candidate_that_changes_another_input_is_caught(self):
        events = self.run_solution("solution_cheat.json")
        self.assertIn("input_mutation", failed_checks(events))


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class BaselineTest(unittest.TestCase):
    def test_an_explicit_baseline_is_timed_before_the_candidate_and_reported(self):
        from tests.kernel_helpers import KERNEL_FIXTURES
        _, events = run_harness("kernel", "--experiment-id", "b", "--task", KERNEL_FIXTURES,
                                "--candidate", os.path.join(KERNEL_FIXTURES, "honest_naive.py"),
                                "--baseline", os.path.join(KERNEL_FIXTURES, "honest_naive.py"),
                                "--device", "cpu", "--trials", "2", "--iterations", "3",
                                experiment_id="b")
        self.assertEqual(failed_checks(events), [])
        roles = [t["role"] for t in of_type(events, "timing")]
        self.assertEqual(roles.count("baseline"), 2)
        audits = {a["check"]: a["verdict"] for a in of_type(events, "audit")}
        self.assertEqual(audits["baseline"], "pass")
        names = {m["name"] for m in of_type(events, "metric")}
        self.assertIn("sol_score_vs_reference", names)


if __name__ == "__main__":
    unittest.main()
