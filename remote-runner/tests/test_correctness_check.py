"""The correctness comparison on its own (torch on the CPU)."""

import unittest

from tests.kernel_helpers import HAS_TORCH, NO_TORCH_REASON


@unittest.skipUnless(HAS_TORCH, NO_TORCH_REASON)
class CorrectnessCompareTest(unittest.TestCase):
    def setUp(self):
        import torch
        from ratchet_harness.checks import correctness
        self.torch = torch
        self.compare = correctness.compare
        torch.manual_seed(0)
        self.truth = torch.randn(1000, dtype=torch.float64)

    def check(self, out, **kw):
        args = dict(atol=1e-2, rtol=1e-2, unit_roundoff=6e-8, precision_factor=10)
        args.update(kw)
        return self.compare(out, self.truth, self.truth.float(), **args)

    def test_nan_in_the_output_fails_even_inside_the_match_fraction(self):
        out = self.truth.float().clone()
        out[3] = float("nan")
        result = self.check(out, min_match_fraction=0.99)
        self.assertFalse(result["ok"])
        self.assertIn("NaN", result["reason"])

    def test_all_zero_output_fails(self):
        self.assertIn("all zero", self.check(self.torch.zeros(1000))["reason"])

    def test_a_few_edge_elements_pass_only_within_the_match_fraction(self):
        out = self.truth.float().clone()
        out[0] += 0.5
        self.assertFalse(self.check(out)["ok"])
        self.assertTrue(self.check(out, min_match_fraction=0.999)["ok"])

    def test_wrong_dtype_or_shape_fails(self):
        self.assertIn("dtype", self.check(self.truth.half())["reason"])
        self.assertIn("shape", self.check(self.truth.float()[:10])["reason"])


if __name__ == "__main__":
    unittest.main()
