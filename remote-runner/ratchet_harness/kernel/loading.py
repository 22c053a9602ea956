"""Loading references and candidates in a worker process (torch is imported here)."""

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import types

_DTYPES = {}


def torch_dtype(name):
    import torch
    return getattr(torch, name)


def load_module(path, name):
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def default_device(device):
    """Create inputs directly on the device where torch supports it (2.0+): generating large
    random tensors on the CPU and copying them costs more than the whole measurement."""
    import torch
    if hasattr(torch, "device") and hasattr(torch.device(device), "__enter__"):
        with torch.device(device):
            yield
    else:
        yield


def to_device(values, device):
    import torch
    return [v.to(device) if isinstance(v, torch.Tensor) else v for v in values]


class KernelBenchTask:
    """A reference module in KernelBench form; shapes are module globals it reads."""

    def __init__(self, plan, device):
        self.plan = plan
        self.device = device
        self.module = load_module(plan["reference"], "ratchet_reference")

    def set_shape(self, shape, *modules):
        for module in (self.module,) + modules:
            for key, value in shape["params"].items():
                setattr(module, key, value)

    def make_inputs(self, seed):
        import torch
        torch.manual_seed(seed)
        with default_device(self.device):
            inputs = self.module.get_inputs()
        return to_device(list(inputs), self.device)

    def init_inputs(self):
        if hasattr(self.module, "get_init_inputs"):
            return list(self.module.get_init_inputs())
        return []

    def reference_class(self):
        return self.module.Model


def _solexec_inputs(definition, shape, device, seed):
    import torch
    torch.manual_seed(seed)
    axes = shape["params"]
    workload_inputs = shape.get("workload", {}).get("inputs", {})
    values = []
    for name, spec in definition.get("inputs", {}).items():
        given = workload_inputs.get(name, {"type": "random"})
        dtype = torch_dtype(spec.get("dtype", "float32"))
        if given.get("type") == "scalar" or spec.get("shape") is None:
            values.append(given.get("value", 1.0))
            continue
        dims = [axes[d] if isinstance(d, str) else int(d) for d in spec["shape"]]
        if dtype.is_floating_point:
            t = torch.randn(dims, device=device, dtype=torch.float32).to(dtype)
        elif dtype == torch.bool:
            t = torch.randint(0, 2, dims, device=device).bool()
        else:
            t = torch.randint(0, 64, dims, device=device, dtype=dtype)
        values.append(t)
    return values


class SolExecTask:
    """A SOL-ExecBench problem: the definition's `run` wrapped as a KernelBench Model."""

    def __init__(self, plan, device):
        import torch
        self.plan = plan
        self.device = device
        self.definition = plan["definition"]
        self.module = types.ModuleType("ratchet_reference")
        exec(compile(self.definition["reference"], "definition.reference", "exec"),
             self.module.__dict__)
        sys.modules["ratchet_reference"] = self.module
        run = self.module.run

        class Model(torch.nn.Module):
            def forward(self, *args):
                return run(*args)

        self.module.Model = Model
        self._shape = None

    def set_shape(self, shape, *modules):
        self._shape = shape

    def make_inputs(self, seed):
        return _solexec_inputs(self.definition, self._shape, self.device, seed)

    def init_inputs(self):
        return []

    def reference_class(self):
        return self.module.Model


def load_task(plan, device):
    if plan["layout"] == "solexec":
        return SolExecTask(plan, device)
    return KernelBenchTask(plan, device)


def load_candidate(path):
    """Import a candidate: a Python file defining ModelNew, or a SOL-ExecBench solution.json
    whose entry point function is wrapped as ModelNew."""
    if path.endswith(".json"):
        import torch
        with open(path, encoding="utf-8") as handle:
            solution = json.load(handle)
        spec = solution.get("spec", {})
        if spec.get("destination_passing_style"):
            raise ValueError("destination-passing-style solutions are not supported yet")
        folder = tempfile.mkdtemp(prefix="ratchet-solution-")
        for source in solution.get("sources", []):
            target = os.path.join(folder, source["path"])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(source["content"])
        file_name, _, func = spec.get("entry_point", "kernel.py::run").partition("::")
        module = load_module(os.path.join(folder, file_name), "ratchet_candidate")
        entry = getattr(module, func or "run")

        class ModelNew(torch.nn.Module):
            def forward(self, *args):
                return entry(*args)

        module.ModelNew = ModelNew
        return module
    module = load_module(path, "ratchet_candidate")
    if not hasattr(module, "ModelNew"):
        raise ValueError("candidate defines no ModelNew")
    return module
