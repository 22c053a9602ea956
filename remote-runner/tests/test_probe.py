"""`probe` mode and the peak-figure table."""

import os
import stat
import tempfile
import unittest

from ratchet_harness import peaks
from tests.helpers import of_type, run_harness

FAKE_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*) echo "0, NVIDIA H100 80GB HBM3, GPU-abc, 81559, 345, 1980, 2619, 2619, 580.159.04, 00000000:00:07.0" ;;
  *) echo "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0 |" ;;
esac
"""


class PeakTableTest(unittest.TestCase):
    def test_device_names_as_drivers_report_them_map_to_the_right_chip(self):
        cases = {
            "NVIDIA H100 80GB HBM3": "H100 SXM",
            "NVIDIA H100 PCIe": "H100 PCIe",
            "NVIDIA H100 NVL": "H100 NVL",
            "NVIDIA H200": "H200",
            "NVIDIA A100-SXM4-80GB": "A100 80GB",
            "NVIDIA A100-SXM4-40GB": "A100 40GB",
            "NVIDIA B200": "B200",
            "NVIDIA L40S": "L40S",
            "NVIDIA GeForce RTX 4090": "RTX 4090",
        }
        for name, chip in cases.items():
            self.assertEqual(peaks.lookup(name)["chip"], chip, name)

    def test_unknown_device_has_no_peak(self):
        self.assertIsNone(peaks.lookup("Tesla K80"))

    def test_figures_are_dense_base_units_and_marked_as_table_values(self):
        h100 = peaks.lookup("NVIDIA H100 80GB HBM3")
        self.assertEqual(h100["source"], "table")
        self.assertAlmostEqual(h100["flops_per_second"]["bf16"], 989.4e12)
        self.assertAlmostEqual(h100["flops_per_second"]["fp8"], 1978.9e12)
        self.assertAlmostEqual(h100["bytes_per_second"], 3.35e12)
        self.assertIsNone(peaks.lookup("NVIDIA A100-SXM4-80GB")["flops_per_second"]["fp8"])


class ProbeModeTest(unittest.TestCase):
    def test_probe_reports_gpus_from_nvidia_smi_with_table_peaks(self):
        with tempfile.TemporaryDirectory() as bindir:
            path = os.path.join(bindir, "nvidia-smi")
            with open(path, "w") as handle:
                handle.write(FAKE_SMI)
            os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
            env = {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
            _, events = run_harness("probe", "--experiment-id", "p", env=env, experiment_id="p")
        probe = of_type(events, "probe")[0]
        gpu = probe["gpus"][0]
        self.assertEqual(gpu["name"], "NVIDIA H100 80GB HBM3")
        self.assertEqual(gpu["peak"]["chip"], "H100 SXM")
        self.assertEqual(gpu["clocks_mhz"]["sm_max"], 1980)
        self.assertEqual(gpu["cuda_driver_version"], "13.0")
        self.assertEqual(events[-1]["reason"], "ok")

    def test_probe_without_nvidia_smi_says_why_and_ends_ok(self):
        with tempfile.TemporaryDirectory() as bindir:
            _, events = run_harness("probe", "--experiment-id", "p", env={"PATH": bindir},
                                    experiment_id="p")
        probe = of_type(events, "probe")[0]
        self.assertEqual(probe["gpus"], [])
        self.assertIn("nvidia-smi", probe["problem"])


if __name__ == "__main__":
    unittest.main()
