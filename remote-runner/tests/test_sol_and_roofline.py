"""Speed-of-light arithmetic, roofline expressions and the static check (standard library)."""

import unittest

from ratchet_harness import expr, peaks, sol
from ratchet_harness.checks import roofline, static_fallback, unsynced
from ratchet_harness.kernel import orchestrate


class SolScoreTest(unittest.TestCase):
    def test_score_is_half_at_the_baseline_and_one_at_the_bound(self):
        self.assertAlmostEqual(sol.score(2.0, 2.0, 1.0), 0.5)
        self.assertAlmostEqual(sol.score(1.0, 2.0, 1.0), 1.0)

    def test_score_falls_towards_zero_for_slower_candidates(self):
        self.assertAlmostEqual(sol.score(3.0, 2.0, 1.0), 1.0 / 3.0)
        self.assertLess(sol.score(100.0, 2.0, 1.0), 0.02)

    def test_score_is_undefined_when_the_baseline_is_not_above_the_bound(self):
        self.assertIsNone(sol.score(1.0, 1.0, 1.0))
        self.assertIsNone(sol.score(1.0, 2.0, None))

    def test_bound_is_the_larger_of_compute_and_memory_time(self):
        self.assertAlmostEqual(sol.sol_seconds(2e12, 1e9, 1e15, 1e12), 2e-3)
        self.assertAlmostEqual(sol.sol_seconds(1e9, 4e12, 1e15, 1e12), 4.0)
        self.assertEqual(sol.bound_kind(1e9, 4e12, 1e15, 1e12), "memory")
        self.assertIsNone(sol.sol_seconds(None, None, 1e15, 1e12))

    def test_task_score_is_the_mean_over_shapes(self):
        self.assertAlmostEqual(sol.mean([0.5, 1.0, None]), 0.75)
        self.assertAlmostEqual(sol.geomean([2.0, 8.0]), 4.0)

    def test_bf16_matmul_on_h100_is_compute_bound_at_the_table_rate(self):
        peak = peaks.lookup("NVIDIA H100 80GB HBM3")
        n = 8192
        t = sol.sol_seconds(2 * n ** 3, 3 * n * n * 2, peak["flops_per_second"]["bf16"],
                            peak["bytes_per_second"])
        self.assertAlmostEqual(t, 2 * n ** 3 / 989.4e12)

    def test_scores_per_shape_flag_a_time_under_the_roofline(self):
        plan = {"precision": "fp32", "shapes": [{"name": "s", "flops": 0, "bytes": 3.35e9}]}
        peak = peaks.lookup("NVIDIA H100 80GB HBM3")  # 3.35e9 bytes -> 1 ms at 3.35 TB/s
        ref = {"s": {"median_ms": 4.0, "gap_ms": 0.01, "clock": "cuda_events"}}
        honest = orchestrate.score_shapes(plan, ref, {"s": {"median_ms": 2.0, "gap_ms": 0.01,
                                                            "clock": "cuda_events"}}, peak)[0]
        self.assertAlmostEqual(honest["score"], 1 / (1 + 1 / 3))
        self.assertFalse(honest["impossible"])
        cheat = orchestrate.score_shapes(plan, ref, {"s": {"median_ms": 0.2, "gap_ms": 3.0,
                                                           "clock": "cuda_events"}}, peak)[0]
        self.assertTrue(cheat["impossible"])
        self.assertTrue(cheat["unsynced"])


class ChecksArithmeticTest(unittest.TestCase):
    def test_roofline_check_allows_slack_but_not_the_impossible(self):
        self.assertFalse(roofline.impossible(0.95e-3, 1e-3))
        self.assertTrue(roofline.impossible(0.5e-3, 1e-3))
        self.assertFalse(roofline.impossible(0.5e-3, None))

    def test_unsynced_work_needs_a_gap_beyond_host_jitter_and_the_reference(self):
        self.assertFalse(unsynced.suspicious(30e-6, 20e-6, 10e-6))
        self.assertTrue(unsynced.suspicious(2e-3, 20e-6, 5e-6))
        self.assertFalse(unsynced.suspicious(2e-3, 2e-3, 5e-6))


class ExpressionTest(unittest.TestCase):
    def test_roofline_expressions_use_shape_names(self):
        self.assertEqual(expr.evaluate("2*M*N*K", {"M": 2, "N": 3, "K": 4}), 48)
        self.assertEqual(expr.evaluate("ceil_div(M, 128) * 2", {"M": 129}), 4)

    def test_expressions_refuse_anything_but_arithmetic(self):
        for text in ("__import__('os')", "M.bit_length()", "[1]", "lambda: 1"):
            with self.assertRaises(ValueError, msg=text):
                expr.evaluate(text, {"M": 1})


class StaticCheckTest(unittest.TestCase):
    def test_reference_import_and_fallback_are_found(self):
        src = ("from reference import Model\n"
               "def f(x):\n    try:\n        return g(x)\n    except Exception:\n"
               "        return Model()(x)\n")
        kinds = {f["kind"] for f in static_fallback.findings(src)}
        self.assertEqual(kinds, {"reference_import", "reference_call", "fallback"})

    def test_forbidden_calls_are_found_and_modelnew_is_not_the_reference(self):
        src = "import torch\nclass ModelNew: pass\ny = torch.softmax(x, -1)\nm = ModelNew()\n"
        found = static_fallback.findings(src, ["torch.softmax"])
        self.assertEqual([(f["line"], f["kind"]) for f in found], [(3, "forbidden_call")])


if __name__ == "__main__":
    unittest.main()
