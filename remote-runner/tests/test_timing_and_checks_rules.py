"""The arithmetic of the timing method and of the new checks, without torch or a GPU."""

import os
import struct
import tempfile
import unittest

from ratchet_harness import safetensors
from ratchet_harness.checks import l2_persistence, launches
from ratchet_harness.kernel import orchestrate, taskspec, timing
from tests.helpers import FIXTURES


class TimingRulesTest(unittest.TestCase):
    def test_discard_rule_rejects_only_a_far_outlier(self):
        steady = [1.000, 1.002, 0.999, 1.001, 1.000, 1.003, 0.998, 1.001, 1.000, 1.002]
        self.assertEqual(timing.outlier_rounds(steady), [])
        self.assertEqual(timing.outlier_rounds(steady[:9] + [1.30]), [9])
        # A drift spread over many rounds is not an outlier: the rule cannot hide it.
        drift = [1.00, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07, 1.08, 1.09]
        self.assertEqual(timing.outlier_rounds(drift), [])
        # Within the 2% floor nothing is discarded, however tight the others are.
        self.assertEqual(timing.outlier_rounds([1.0] * 9 + [1.015]), [])

    def test_rounds_are_sized_by_measured_time(self):
        self.assertEqual(timing.calls_per_round(0.05, 100.0, 10), 2000)
        self.assertEqual(timing.calls_per_round(5.0, 100.0, 10), 20)
        self.assertEqual(timing.calls_per_round(400.0, 100.0, 10), 3)
        self.assertEqual(timing.calls_per_round(1e-6, 100.0, 10, max_calls=5000), 5000)
        # A wait before each call bounds the round's wall time, not only its measured time.
        self.assertEqual(timing.calls_per_round(0.002, 20.0, 30, wait_ms=3.9),
                         int(timing.ROUND_WALL_MAX_MS / 3.902))
        self.assertEqual(timing.calls_per_round(0.5, 100.0, 10, wait_ms=0.5), 200)

    def test_flush_buffer_is_twice_the_l2_with_a_floor_and_a_fallback(self):
        self.assertEqual(timing.flush_bytes_for(60 << 20), 120 << 20)
        self.assertEqual(timing.flush_bytes_for(4 << 20), timing.MIN_FLUSH_BYTES)
        self.assertEqual(timing.flush_bytes_for(None), timing.FALLBACK_FLUSH_BYTES)

    def test_spacing_holds_host_bound_calls_and_gaps_capped_ones(self):
        # GPU-bound and uncapped: no wait, the measurement is as before.
        self.assertEqual(timing.spacing(0.05, 0.5, capped=False), (0.0, []))
        # Host-bound (host time >= half the events' time): held for 1.5x the host time.
        self.assertEqual(timing.spacing(0.2, 0.25, capped=False), (0.2 * timing.LAUNCH_AHEAD,
                                                                    ["launch_ahead"]))
        self.assertEqual(timing.spacing(0.2, 0.25, capped=False, launch_ahead=False), (0.0, []))
        # Under a power cap: idle for POWER_GAP times the GPU time after each call.
        self.assertEqual(timing.spacing(0.05, 0.5, capped=True), (0.5 * timing.POWER_GAP,
                                                                  ["power_gap"]))
        self.assertEqual(timing.spacing(0.05, 0.5, capped=True, power_gap=0), (0.0, []))
        # An explicit ratio applies with or without a cap; both reasons add up; capped at max.
        hold, why = timing.spacing(0.4, 0.5, capped=False, power_gap=2)
        self.assertAlmostEqual(hold, 0.4 * timing.LAUNCH_AHEAD + 1.0)
        self.assertEqual(why, ["launch_ahead", "power_gap"])
        self.assertEqual(timing.spacing(100.0, 120.0, capped=True)[0], timing.HOLD_MAX_MS)
        # Nothing measured yet: no wait.
        self.assertEqual(timing.spacing(None, None, capped=True), (0.0, []))

    def test_spread(self):
        self.assertAlmostEqual(timing.spread([1.0, 1.02, 1.01]), 0.02)
        self.assertIsNone(timing.spread([]))


class LaunchAndL2RulesTest(unittest.TestCase):
    def test_trace_is_split_at_markers_and_classified(self):
        events = [(1, "gemm_kernel"), (2, "Memcpy DtoD (Device -> Device)"), (3, "spin_kernel"),
                  (4, "spin_kernel"), (5, "softmax_kernel"), (6, "spin_kernel")]
        calls = launches.split_calls(events, 3)
        self.assertEqual(calls, [["gemm_kernel", "Memcpy DtoD (Device -> Device)"], [],
                                 ["softmax_kernel"]])
        self.assertEqual(launches.classify(calls[0]), {"kernels": 1, "memcpy": 1, "memset": 0})
        self.assertIsNone(launches.split_calls(events, 2))

    def test_calls_without_a_compute_kernel_are_suspicious(self):
        ref = [{"kernels": 3, "memcpy": 0, "memset": 0}]
        cand = [{"kernels": 1, "memcpy": 0, "memset": 0}, {"kernels": 0, "memcpy": 2, "memset": 0}]
        self.assertEqual(launches.suspicious(ref, cand), [1])
        self.assertEqual(launches.suspicious([{"kernels": 0}], cand), [])

    def test_persisting_l2_left_by_the_candidate_is_a_finding(self):
        before = {"persisting_limit_bytes": 0, "stream_window_bytes": None}
        self.assertEqual(l2_persistence.findings(before, dict(before)), [])
        found = l2_persistence.findings(before, {"persisting_limit_bytes": 16 << 20,
                                                 "stream_window_bytes": None})
        self.assertEqual(found[0]["what"], "persisting_limit_bytes")


class BaselineScoreTest(unittest.TestCase):
    def test_score_uses_the_baseline_when_one_was_timed(self):
        plan = {"precision": "bf16", "shapes": [{"name": "s", "flops": None, "bytes": 4.8e9}]}
        peak = {"flops_per_second": {"bf16": 1e15}, "bytes_per_second": 4.8e12, "chip": "X"}
        ref = {"s": {"median_ms": 5.0}}
        cand = {"s": {"median_ms": 2.0}}
        base = {"s": {"median_ms": 2.0}}
        rows = orchestrate.score_shapes(plan, ref, cand, peak, base)
        # T_SOL = 1 ms; candidate = baseline -> 0.5; against the reference it would be 0.8.
        self.assertAlmostEqual(rows[0]["score"], 0.5)
        self.assertAlmostEqual(rows[0]["reference_score"], 0.8)
        self.assertEqual(rows[0]["scored_against"], "baseline")
        rows = orchestrate.score_shapes(plan, ref, cand, peak)
        self.assertAlmostEqual(rows[0]["score"], 0.8)
        self.assertEqual(rows[0]["scored_against"], "reference")


class SafetensorsReaderTest(unittest.TestCase):
    def test_round_trip_and_header_checks(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            floats = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
            ints = struct.pack("<3q", 7, 8, 9)
            safetensors.write(path, {"a": ("float32", [2, 2], floats),
                                     "b": ("int64", [3], ints)}, metadata={"k": "v"})
            header, meta, start = safetensors.read_header(path)
            self.assertEqual(meta, {"k": "v"})
            self.assertEqual(start % 8, 0)
            self.assertEqual(header["a"]["dtype"], "F32")
            self.assertEqual(safetensors.read_tensor_bytes(path, "a"),
                             ("float32", [2, 2], floats))
            self.assertEqual(safetensors.read_tensor_bytes(path, "b"), ("int64", [3], ints))
            with self.assertRaises(safetensors.SafetensorsError):
                safetensors.read_tensor_bytes(path, "missing")
            # A header whose offsets disagree with the shape is refused.
            bad = os.path.join(tmp, "bad.safetensors")
            safetensors.write(bad, {"a": ("float32", [3], floats)})
            with self.assertRaises(safetensors.SafetensorsError):
                safetensors.read_header(bad)


class SolExecParsingTest(unittest.TestCase):
    def test_per_workload_correctness_fills_missing_fields_with_the_format_defaults(self):
        tol = taskspec.solexec_tolerance({"correctness": {"max_atol": 5e-3, "max_rtol": 2e-2,
                                                          "required_matched_ratio": 0.95,
                                                          "max_error_cap": 1.0}})
        self.assertEqual(tol, {"atol": 5e-3, "rtol": 2e-2, "min_match_fraction": 0.95,
                               "max_error_cap": 1.0})
        tol = taskspec.solexec_tolerance({"correctness": {"max_atol": 1e-3}})
        self.assertEqual(tol["rtol"], 1e-2)
        self.assertEqual(tol["min_match_fraction"], 1.0)
        self.assertIsNone(tol["max_error_cap"])
        self.assertIsNone(taskspec.solexec_tolerance({}))

    def test_problem_with_safetensors_inputs_keeps_its_tolerance_and_is_not_perturbed(self):
        plan = taskspec.load_solexec_problem(os.path.join(FIXTURES, "solexec", "rmsnorm_st"))
        self.assertEqual(plan["shapes"][0]["tolerance"]["atol"], 1e-5)
        self.assertEqual(plan["shapes"][0]["tolerance"]["max_error_cap"], 0.5)
        self.assertEqual(plan["perturbed_shapes"], [])

    def test_random_input_problem_gets_a_perturbed_workload_one_step_off(self):
        plan = taskspec.load_solexec_problem(os.path.join(FIXTURES, "solexec", "row_softmax"))
        self.assertEqual(len(plan["perturbed_shapes"]), 1)
        self.assertEqual(plan["perturbed_shapes"][0]["params"]["num_rows"], 9)

    def test_constraints_or_custom_inputs_mean_no_perturbed_workload(self):
        definition = {"axes": {"M": {"type": "var"}}, "constraints": ["M % 2 == 0"]}
        self.assertIsNone(taskspec.perturbed_workload(definition, {"axes": {"M": 4}}))
        plan = taskspec.load_solexec_problem(os.path.join(FIXTURES, "solexec", "ragged_custom"))
        self.assertEqual(plan["perturbed_shapes"], [])


if __name__ == "__main__":
    unittest.main()
