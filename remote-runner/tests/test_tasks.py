"""The kernel tasks in kernels/ and the SOL-ExecBench layout, read without torch."""

import ast
import json
import os
import shutil
import tempfile
import unittest

from ratchet_harness.checks import static_fallback
from ratchet_harness.kernel import taskspec
from tests.helpers import FIXTURES, REPO_ROOT

KERNELS = os.path.join(REPO_ROOT, "kernels")
REQUIRED = {"matmul_bf16", "matmul_fp8", "softmax", "layernorm", "rmsnorm", "swiglu_mlp",
            "row_sum", "causal_attention", "sliding_window_attention", "fp8_quant_dequant",
            "ngram_hash_embedding", "linear_cross_entropy"}


def task_dirs():
    return sorted(d for d in os.listdir(KERNELS)
                  if os.path.isfile(os.path.join(KERNELS, d, "task.json")))


class KernelTasksTest(unittest.TestCase):
    def test_the_twelve_required_tasks_exist(self):
        self.assertTrue(REQUIRED <= set(task_dirs()), REQUIRED - set(task_dirs()))

    def test_every_task_has_several_shapes_and_a_positive_roofline_for_each(self):
        for name in task_dirs():
            plan = taskspec.load_task_folder(os.path.join(KERNELS, name))
            self.assertGreaterEqual(len(plan["shapes"]), 2, name)
            for shape in plan["shapes"]:
                self.assertGreater(shape["bytes"] or 0, 0, (name, shape["name"]))
                self.assertGreater(shape["flops"] or 0, 0, (name, shape["name"]))

    def test_every_task_has_a_naive_and_a_triton_candidate_that_pass_the_static_check(self):
        for name in task_dirs():
            plan = taskspec.load_task_folder(os.path.join(KERNELS, name))
            self.assertEqual(set(plan["candidates"]), {"naive", "triton"}, name)
            for path in plan["candidates"].values():
                with open(os.path.join(KERNELS, name, path)) as handle:
                    source = handle.read()
                self.assertIn("class ModelNew", source, path)
                self.assertEqual(static_fallback.findings(source, plan["forbid"]), [],
                                 (name, path))

    def test_every_reference_is_in_kernelbench_form(self):
        for name in task_dirs():
            with open(os.path.join(KERNELS, name, "reference.py")) as handle:
                tree = ast.parse(handle.read())
            defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            self.assertTrue({"Model", "get_inputs", "get_init_inputs"} <= defined, name)


class SolExecLayoutTest(unittest.TestCase):
    def test_problem_folder_becomes_one_shape_per_workload_with_resolved_axes(self):
        plan = taskspec.load_solexec_problem(os.path.join(FIXTURES, "solexec", "row_softmax"))
        self.assertEqual([s["name"] for s in plan["shapes"]], ["w0-a1b2c3d4", "w1-a1b2c3d4"])
        self.assertEqual(plan["shapes"][1]["params"],
                         {"num_rows": 100, "hidden": 256, "half_hidden": 128})
        # Without roofline.json the bound is every input read and every output written once.
        self.assertEqual(plan["shapes"][1]["bytes"], 2 * 100 * 256 * 4)

    def test_sizes_written_as_digit_strings_count_as_sizes(self):
        plan = taskspec.load_solexec_problem(os.path.join(FIXTURES, "solexec", "kept_dim"))
        # x and y are 33x64, scale 33x"1", bias "1"x"64": float32 throughout.
        self.assertEqual(plan["shapes"][1]["bytes"], (2 * 33 * 64 + 33 + 64) * 4)

    def test_a_shape_that_names_no_axis_is_a_task_error_that_says_which(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "p")
            shutil.copytree(os.path.join(FIXTURES, "solexec", "kept_dim"), folder)
            path = os.path.join(folder, "definition.json")
            with open(path) as handle:
                definition = json.load(handle)
            definition["inputs"]["scale"]["shape"] = ["num_rows", "width"]
            with open(path, "w") as handle:
                json.dump(definition, handle)
            with self.assertRaises(taskspec.TaskError) as caught:
                taskspec.load_solexec_problem(folder)
        self.assertIn("'width'", str(caught.exception))
        self.assertIn("hidden, num_rows", str(caught.exception))


if __name__ == "__main__":
    unittest.main()


class KernelSeedTest(unittest.TestCase):
    """The engine passes each run's seed: repeats of one candidate are checked on fresh inputs."""

    def plan(self, *extra):
        from ratchet_harness.__main__ import _parser
        from ratchet_harness.kernel import orchestrate
        args = _parser().parse_args(["kernel", "--experiment-id", "k", "--task",
                                     os.path.join(FIXTURES, "kernel"), "--candidate",
                                     os.path.join(FIXTURES, "kernel", "honest_naive.py"),
                                     "--device", "cpu", *extra])
        return orchestrate.build_plan(args)

    def test_each_seed_draws_other_inputs_and_seed_0_keeps_the_tasks_own(self):
        base = self.plan()["input_seed"]
        self.assertEqual(self.plan("--seed", "0")["input_seed"], base)
        seeds = {self.plan("--seed", str(s))["input_seed"] for s in (1, 2, 3)}
        self.assertEqual(len(seeds), 3)
        self.assertNotIn(base, seeds)
