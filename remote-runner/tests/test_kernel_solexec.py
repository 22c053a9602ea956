"""SOL-ExecBench problems run as they are: definition.json + workload.jsonl + solution.json."""

import os
import unittest

from tests.helpers import FIXTURES, of_type, run_harness
from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON, failed_checks

PROBLEM = os.path.join(FIXTURES, "solexec", "row_softmax")


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class SolExecProblemTest(unittest.TestCase):
    def run_solution(self, name):
        _, events = run_harness("kernel", "--experiment-id", "sx", "--problem", PROBLEM,
                                "--candidate", os.path.join(PROBLEM, name), "--device", "cpu",
                                "--trials", "2", "--iterations", "3", experiment_id="sx")
        return events

    def test_correct_solution_passes_and_is_timed_on_every_workload(self):
        events = self.run_solution("solution.json")
        self.assertEqual(failed_checks(events), [])
        self.assertEqual({t["shape"] for t in of_type(events, "timing")},
                         {"w0-a1b2c3d4", "w1-a1b2c3d4"})

    def test_wrong_solution_fails_correctness(self):
        events = self.run_solution("solution_wrong.json")
        self.assertIn("correctness", failed_checks(events))


if __name__ == "__main__":
    unittest.main()
