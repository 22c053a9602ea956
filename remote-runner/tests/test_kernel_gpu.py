"""Kernel mode on a CUDA GPU: the checks that only a GPU can exercise (poisoned allocator
blocks, work on a side stream) and the honest Triton candidate. Skipped without CUDA."""

import unittest

from tests.helpers import of_type
from tests.kernel_helpers import failed_checks, has_cuda, has_triton, run_fixture


@unittest.skipUnless(has_cuda(), "needs torch with a CUDA GPU")
class KernelModeOnGpuTest(unittest.TestCase):
    @unittest.skipUnless(has_triton(), "needs triton")
    def test_honest_triton_candidate_passes_every_check_with_a_sol_score(self):
        events = run_fixture("honest_triton", "--trials", "3", device="cuda")
        self.assertEqual(failed_checks(events), [])
        scores = [m for m in of_type(events, "metric") if m["name"] == "sol_score"
                  and "shape" not in m]
        self.assertIsNotNone(scores[0]["value"])

    def test_uninitialised_output_reads_poison_and_fails(self):
        events = run_fixture("cheat_empty_output", "--trials", "3", "--skip-timing",
                             device="cuda")
        self.assertIn("correctness", failed_checks(events))

    def test_work_left_on_a_side_stream_is_caught_by_unsynced_work(self):
        events = run_fixture("cheat_side_stream", "--trials", "2", device="cuda")
        self.assertIn("unsynced_work", failed_checks(events))

    def test_cached_answer_without_kernels_is_caught_by_launches(self):
        events = run_fixture("cheat_cached_answer", "--trials", "2", "--skip-timing",
                             device="cuda")
        self.assertEqual(failed_checks(events), ["launches"])

    def test_persisting_l2_is_caught_by_l2_persistence(self):
        events = run_fixture("cheat_l2_persist", "--trials", "2", "--skip-timing",
                             device="cuda")
        self.assertIn("l2_persistence", failed_checks(events))

    def test_honest_candidate_launches_kernels_and_sets_no_persisting_l2(self):
        events = run_fixture("honest_naive", "--trials", "2", "--min-round-ms", "10",
                             device="cuda")
        self.assertEqual(failed_checks(events), [])
        verdicts = {a["check"]: a["verdict"] for a in of_type(events, "audit")}
        self.assertEqual(verdicts.get("launches"), "pass")
        self.assertEqual(verdicts.get("l2_persistence"), "pass")


if __name__ == "__main__":
    unittest.main()
