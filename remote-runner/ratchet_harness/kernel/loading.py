"""Loading references and candidates in a worker process (torch is imported here)."""

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import types

from ..checks.poison import fill_poison
from .taskspec import dim_size

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


def _safetensors_tensor(problem_dir, given, device):
    """A workload input read from a .safetensors file with the harness's own reader (the
    format is simple, so the `safetensors` package is not needed)."""
    import torch
    from .. import safetensors as st
    path = given["path"]
    candidates = [path] if os.path.isabs(path) else [
        os.path.join(problem_dir, path),
        # Paths in the published data are relative to the trace set's root, which is one to
        # three folders above a problem.
        os.path.join(problem_dir, "..", path), os.path.join(problem_dir, "..", "..", path),
        os.path.join(problem_dir, "..", "..", "..", path)]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise FileNotFoundError("safetensors file not found: %s" % path)
    dtype_name, shape, data = st.read_tensor_bytes(found, given["tensor_key"])
    dtype = torch_dtype(dtype_name)
    if not data:
        return torch.empty(shape, dtype=dtype, device=device)
    t = torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)
    return t.to(device)


def _solexec_inputs(definition, shape, device, seed, problem_dir):
    import torch
    torch.manual_seed(seed)
    axes = shape["params"]
    workload_inputs = shape.get("workload", {}).get("inputs", {})
    specs = definition.get("inputs", {})
    kinds = {workload_inputs.get(n, {}).get("type", "random") for n in specs}
    if "custom" in kinds:
        # The definition's own generator makes every input (SOL-ExecBench: all or none).
        entry = definition.get("custom_inputs_entrypoint")
        module = sys.modules["ratchet_reference"]
        scalars = {n: g.get("value") for n, g in workload_inputs.items()
                   if g.get("type") == "scalar"}
        made = getattr(module, entry)(dict(axes, **scalars), torch.device(device))
        return [made[n] for n in specs]
    values = []
    for name, spec in specs.items():
        given = workload_inputs.get(name, {"type": "random"})
        dtype = torch_dtype(spec.get("dtype", "float32"))
        if given.get("type") == "scalar" or spec.get("shape") is None:
            values.append(given.get("value", 1.0))
            continue
        if given.get("type") == "safetensors":
            values.append(_safetensors_tensor(problem_dir, given, device))
            continue
        dims = [dim_size(d, axes) for d in spec["shape"]]
        if dtype.is_floating_point:
            t = torch.randn(dims, device=device, dtype=torch.float32).to(dtype)
        elif dtype == torch.bool:
            t = torch.randint(0, 2, dims, device=device).bool()
        else:
            t = torch.randint(0, 64, dims, device=device, dtype=dtype)
        values.append(t)
    return values


def output_buffers(definition, axes, device, poison):
    """Outputs of a destination-passing-style call, allocated by the harness: NaN (or -1)
    while checked, so an output the solution never writes fails; plain torch.empty while
    timed (no extra GPU work inside the measurement)."""
    import torch
    outs = []
    for spec in definition.get("outputs", {}).values():
        dtype = torch_dtype(spec.get("dtype", "float32"))
        dims = [dim_size(d, axes) for d in (spec.get("shape") or [])]
        t = torch.empty(dims, dtype=dtype, device=device)
        outs.append(fill_poison(t) if poison else t)
    return outs


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
        self.poison_outputs = True

    def set_shape(self, shape, *modules):
        self._shape = shape
        for module in modules:
            if hasattr(module, "_ratchet_set_axes"):
                module._ratchet_set_axes(shape["params"])

    def make_inputs(self, seed):
        return _solexec_inputs(self.definition, self._shape, self.device, seed,
                               self.plan.get("problem_dir", "."))

    def init_inputs(self):
        return []

    def reference_class(self):
        return self.module.Model


def load_task(plan, device):
    if plan["layout"] == "solexec":
        return SolExecTask(plan, device)
    return KernelBenchTask(plan, device)


def load_candidate(path, definition=None, device="cpu", name="ratchet_candidate"):
    """Import a candidate: a Python file defining ModelNew, or a SOL-ExecBench solution.json
    whose entry point function is wrapped as ModelNew. Destination-passing style (the
    format's default when `destination_passing_style` is absent) is supported: the wrapper
    allocates the outputs from the definition and passes them after the inputs."""
    if path.endswith(".json"):
        import torch
        with open(path, encoding="utf-8") as handle:
            solution = json.load(handle)
        spec = solution.get("spec", {})
        dps = bool(spec.get("destination_passing_style", True))
        folder = tempfile.mkdtemp(prefix="ratchet-solution-")
        for source in solution.get("sources", []):
            target = os.path.join(folder, source["path"])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(source["content"])
        file_name, _, func = spec.get("entry_point", "kernel.py::run").partition("::")
        module = load_module(os.path.join(folder, file_name), name)
        entry = getattr(module, func or "run")
        state = {"axes": {}, "poison": True}

        def set_axes(axes):
            state["axes"] = dict(axes)

        def set_poison(flag):
            state["poison"] = bool(flag)

        class ModelNew(torch.nn.Module):
            def forward(self, *args):
                if not dps:
                    return entry(*args)
                outs = output_buffers(definition or {}, state["axes"], device, state["poison"])
                entry(*args, *outs)
                return outs[0] if len(outs) == 1 else tuple(outs)

        module.ModelNew = ModelNew
        module._ratchet_set_axes = set_axes
        module._ratchet_set_poison = set_poison
        module._ratchet_dps = dps
        return module
    module = load_module(path, name)
    if not hasattr(module, "ModelNew"):
        raise ValueError("%s defines no ModelNew" % os.path.basename(path))
    return module
