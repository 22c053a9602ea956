"""The training budget is timed from the run's first optimizer step, where torch reports one:
start-up (imports, data, the first compilation) is not training. A stand-in `torch` package with
torch 2's global step hooks keeps the test fast and independent of the installed torch."""

import os
import sys
import tempfile
import unittest

from tests.helpers import of_type, run_harness

FAKE_TORCH = {
    "torch/__init__.py": "from . import optim\n",
    "torch/optim/__init__.py": "from . import optimizer\n",
    "torch/optim/optimizer.py": (
        "_hooks = []\n"
        "def register_optimizer_step_pre_hook(hook):\n"
        "    _hooks.append(hook)\n"
        "class Optimizer:\n"
        "    def step(self):\n"
        "        for hook in _hooks:\n"
        "            hook(self, (), {})\n"),
    "prepare.py": "TIME_BUDGET = 1\n\ndef evaluate(model):\n    return 1.0\n",
}
TRAIN = """import time
time.sleep(START_UP)
import torch
from torch.optim.optimizer import Optimizer
from prepare import evaluate
optimizer = Optimizer()
began = time.time()
while time.time() - began < TRAINING:
    optimizer.step()
    time.sleep(0.01)
print("score:", evaluate(None))
"""


class TrainingTimeTest(unittest.TestCase):
    def run_task(self, start_up, training):
        with tempfile.TemporaryDirectory() as folder:
            for name, text in FAKE_TORCH.items():
                os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
                with open(os.path.join(folder, name), "w") as handle:
                    handle.write(text)
            with open(os.path.join(folder, "train.py"), "w") as handle:
                handle.write(TRAIN.replace("START_UP", str(start_up)).replace("TRAINING", str(training)))
            _, events = run_harness(
                "train", "--experiment-id", "t", "--budget-seconds", "60", "--cwd", folder, "--metric", "score",
                "--evaluate", "prepare.py:evaluate", "--training-budget-seconds", "1",
                "--training-allowance-seconds", "0.5", "--", "%s train.py" % sys.executable, experiment_id="t")
        metrics = {e["name"]: e["value"] for e in of_type(events, "metric") if e["source"] == "harness"}
        budget = [e for e in of_type(events, "audit") if e["check"] == "training_budget"][0]
        return metrics, budget

    def test_a_slow_start_is_not_training(self):
        metrics, budget = self.run_task(start_up=2.5, training=0.5)
        self.assertGreater(metrics["seconds_to_evaluation"], 2.5)
        self.assertLess(metrics["seconds_of_training"], 1.0)
        self.assertEqual(budget["verdict"], "pass", budget["message"])
        self.assertEqual(budget["evidence"]["since"], "its first optimizer step")

    def test_training_past_the_budget_fails_however_fast_the_start(self):
        metrics, budget = self.run_task(start_up=0, training=2.5)
        self.assertGreater(metrics["seconds_of_training"], 2.4)
        self.assertEqual(budget["verdict"], "fail")
        self.assertIn("from its first optimizer step", budget["message"])


if __name__ == "__main__":
    unittest.main()
