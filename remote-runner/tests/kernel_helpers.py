"""Shared pieces of the kernel-mode tests: which interpreter features exist here."""

import importlib.util
import os

from tests.helpers import FIXTURES, of_type, run_harness

HAS_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH_REASON = "torch is not importable by this interpreter (CI: Debian's python3-torch " \
                  "with /usr/bin/python3)"


def has_cuda():
    if not HAS_TORCH:
        return False
    import torch
    return torch.cuda.is_available()


def has_triton():
    return importlib.util.find_spec("triton") is not None


KERNEL_FIXTURES = os.path.join(FIXTURES, "kernel")


def run_fixture(name, *extra, device="cpu", timeout=240):
    args = ["kernel", "--experiment-id", "k-" + name, "--task", KERNEL_FIXTURES,
            "--candidate", os.path.join(KERNEL_FIXTURES, name + ".py"), "--device", device]
    args += list(extra)
    _, events = run_harness(*args, timeout=timeout, experiment_id="k-" + name)
    return events


def verdicts(events):
    """{check: verdict}; a check reported by both phases counts as failed if either failed."""
    result = {}
    for audit in of_type(events, "audit"):
        if result.get(audit["check"]) != "fail":
            result[audit["check"]] = audit["verdict"]
    return result


def failed_checks(events):
    return sorted(c for c, v in verdicts(events).items() if v == "fail")
