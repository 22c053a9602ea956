"""The GPU timing path's spacing decisions (timing._measure_cuda), driven without a GPU: a
simulated device whose clock is capped after enough busy time without idle gaps, seen through
the same timer and NVML-sample interfaces the harness uses on a real GPU. The real-GPU numbers
are in bench/results; this checks the decisions: who gets a wait, when rounds are measured
again, and that an explicit --power-gap 0 is obeyed."""

import unittest

try:
    import torch  # noqa: F401  (the flush buffer is a torch tensor, here on the CPU)
except ImportError:  # pragma: no cover
    torch = None

from ratchet_harness.kernel import timing

CAP_BIT = 0x4  # NVML: SW power cap
CYCLES_PER_MS = 1980e3


class SimulatedGpu:
    """Simulated time in ms. A call runs 25% slower while capped; the board caps once it has
    been busy `cap_after_ms` (weighted by each callable's power) without an idle gap at least as
    long as the call before it. With `late`, busy time counts only once rounds start (a cap
    the warm-up cannot see, however long it runs)."""

    def __init__(self, cap_after_ms, late=False):
        self.now = 0.0
        self.busy = 0.0
        self.cap_after_ms = cap_after_ms
        self.last_ms = 0.0
        self.sleeps = []
        self.counting = not late

    def capped(self):
        return self.busy >= self.cap_after_ms

    def run(self, base_ms, power=1.0):
        ms = base_ms * (1.25 if self.capped() else 1.0)
        self.now += ms
        if self.counting:
            self.busy += ms * power
        self.last_ms = ms
        return ms

    def sleep(self, cycles):
        ms = cycles / CYCLES_PER_MS
        self.sleeps.append(ms)
        self.now += ms
        if ms >= self.last_ms:
            self.busy = 0.0


class _Event:
    def __init__(self, enable_timing=True):
        self.t = None


class SimulatedTimers:
    cuda = True

    def __init__(self, gpu):
        import time
        self.gpu = gpu
        self.perf_counter = time.perf_counter
        self.Event = _Event

    def record(self, event):
        event.t = self.gpu.now

    def elapsed_time(self, start, end):
        return end.t - start.t

    def synchronize(self):
        pass

    def gpu_sleep(self, cycles):
        self.gpu.sleep(cycles)


class SimulatedClocks:
    def __init__(self, gpu):
        self.gpu = gpu

    def max_sm_mhz(self):
        return 1980

    def sample(self):
        capped = self.gpu.capped()
        return {"sm_mhz": 1600 if capped else 1980, "throttle_reasons": CAP_BIT if capped else 0}


@unittest.skipIf(torch is None, "torch is not installed")
class SpacingDecisionsTest(unittest.TestCase):
    def setUp(self):
        # Real-time warm-up limits shrunk: the simulated calls cost no wall time.
        self.saved = {k: getattr(timing, k) for k in (
            "WARMUP_MIN_MS", "WARMUP_MAX_MS", "CAPPED_WARMUP_MIN_MS", "CAPPED_WARMUP_MAX_MS",
            "MIN_FLUSH_BYTES")}
        timing.WARMUP_MIN_MS, timing.WARMUP_MAX_MS = 2.0, 20.0
        timing.CAPPED_WARMUP_MIN_MS, timing.CAPPED_WARMUP_MAX_MS = 4.0, 40.0
        timing.MIN_FLUSH_BYTES = 1024

    def tearDown(self):
        for k, v in self.saved.items():
            setattr(timing, k, v)

    def measure(self, gpu, call, control=None, power_gap=None, rounds=10):
        # Rounds are sized right after the spacing is decided: from there on a late cap counts.
        sizer = timing.calls_per_round

        def sized(*args, **kwargs):
            gpu.counting = True
            return sizer(*args, **kwargs)
        timing.calls_per_round = sized
        self.addCleanup(setattr, timing, "calls_per_round", sizer)
        return timing._measure_cuda(call, [[0], [1]], SimulatedTimers(gpu), "cpu", warmup=3,
                                    iterations=10, rounds=rounds, min_round_ms=100.0,
                                    control=control, l2=None, clocks=SimulatedClocks(gpu),
                                    l2_bytes=512, power_gap=power_gap)

    def test_a_cap_the_warm_up_missed_respaces_and_measures_every_round_again(self):
        gpu = SimulatedGpu(cap_after_ms=300.0, late=True)
        res = self.measure(gpu, lambda inp: gpu.run(1.0))
        self.assertTrue(res["clock_capped"])
        self.assertTrue(res["respaced_after_cap"])
        self.assertEqual(res["hold_reasons"], ["power_gap"])
        # Every kept round was measured with the gap in place: the unconstrained time.
        self.assertEqual(len(res["rounds_ms"]), 10)
        for median in res["rounds_ms"]:
            self.assertAlmostEqual(median, 1.0)
        self.assertFalse(any(c["throttle_reasons"] for c in res["round_clocks"]))
        self.assertTrue(gpu.sleeps and min(gpu.sleeps) >= 1.0 - 1e-9)

    def test_an_explicit_power_gap_of_zero_is_obeyed(self):
        gpu = SimulatedGpu(cap_after_ms=300.0, late=True)
        res = self.measure(gpu, lambda inp: gpu.run(1.0), power_gap=0)
        self.assertFalse(res["respaced_after_cap"])
        self.assertEqual(res["hold_ms"], 0.0)
        self.assertEqual(gpu.sleeps, [])
        # Without the gap the cap shows in the rounds: the controller's clock, not the call's.
        self.assertAlmostEqual(max(res["all_rounds_ms"]), 1.25)

    def test_the_candidate_and_its_control_share_one_spacing_decision(self):
        # The light candidate alone never caps; the heavy control caps during its warm-up.
        gpu = SimulatedGpu(cap_after_ms=200.0)
        res = self.measure(gpu, lambda inp: gpu.run(1.0, power=0.1),
                           control=(lambda inp: gpu.run(2.0, power=5.0), [[0], [1]]))
        self.assertTrue(res["clock_capped"])
        self.assertIn("power_gap", res["hold_reasons"])
        self.assertFalse(res["respaced_after_cap"])
        for median in res["rounds_ms"] + res["control_rounds_ms"]:
            self.assertLess(median, 2.0 * 1.2)
        self.assertAlmostEqual(res["median_ms"], 1.0)
        self.assertAlmostEqual(res["control_median_ms"], 2.0)

    def test_an_uncapped_gpu_bound_call_gets_no_wait(self):
        gpu = SimulatedGpu(cap_after_ms=float("inf"))
        res = self.measure(gpu, lambda inp: gpu.run(1.0))
        self.assertEqual((res["hold_ms"], res["hold_reasons"]), (0.0, []))
        self.assertEqual(gpu.sleeps, [])
        self.assertEqual(res["spread"], 0.0)


if __name__ == "__main__":
    unittest.main()
