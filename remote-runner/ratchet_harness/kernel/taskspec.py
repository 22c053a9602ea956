"""Kernel tasks as the harness reads them, turned into one plain plan the workers follow.

Two layouts are accepted:
- a Ratchet task folder: task.json (shapes, tolerance, roofline) + a KernelBench reference
  (`Model`, `get_inputs`, `get_init_inputs`) whose module globals the shapes set;
- a SOL-ExecBench problem folder: definition.json + workload.jsonl (+ optional roofline.json),
  with a candidate given as solution.json."""

import json
import os

from .. import expr

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1,
               "float8_e5m2": 1, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1,
               "bool": 1}

# Tolerances follow KernelBench (1e-4 for fp32, 1e-2 for half types); they are absolute and
# relative (|out - truth| <= atol + rtol * |truth|).
DEFAULT_TOLERANCE = {"float64": 1e-6, "float32": 1e-4, "float16": 1e-2, "bfloat16": 1e-2,
                     "float8_e4m3fn": 1e-1, "float8_e5m2": 1e-1}

# Share of elements that must be within tolerance. Every element for float32 (KernelBench);
# 99.9% for half types, where two honest roundings of a large output put a few elements on the
# far side of the line (SOL-ExecBench asks for 99%).
DEFAULT_MATCH_FRACTION = {"float16": 0.999, "bfloat16": 0.999, "float8_e4m3fn": 0.999,
                          "float8_e5m2": 0.999}

# Unit roundoff of each dtype: the floor under which a reference's own error counts as zero
# when the precision check compares candidate and reference errors.
UNIT_ROUNDOFF = {"float64": 1.1e-16, "float32": 6.0e-8, "float16": 4.9e-4, "bfloat16": 3.9e-3,
                 "float8_e4m3fn": 6.3e-2, "float8_e5m2": 1.25e-1}

PRECISION_OF_DTYPE = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32",
                      "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "int8": "int8"}


class TaskError(Exception):
    """A task or candidate the harness cannot use; the message says what to fix."""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise TaskError("cannot read %s: %s" % (path, exc))


def _shape_entry(name, params, roofline):
    entry = {"name": str(name), "params": params}
    for key in ("flops", "bytes"):
        if roofline and key in roofline:
            try:
                entry[key] = float(expr.evaluate(roofline[key], params))
            except (ValueError, ZeroDivisionError) as exc:
                raise TaskError("roofline %s for shape %s: %s" % (key, name, exc))
        else:
            entry[key] = None
    return entry


def load_task_folder(folder, spec_path=None, reference_path=None):
    spec_path = spec_path or os.path.join(folder, "task.json")
    spec = _read_json(spec_path)
    base = os.path.dirname(os.path.abspath(spec_path))
    reference = reference_path or os.path.join(base, spec.get("reference", "reference.py"))
    if not os.path.isfile(reference):
        raise TaskError("reference not found: %s" % reference)
    dtype = spec.get("dtype", "float32")
    shapes = spec.get("shapes") or [{"name": "default", "params": {}}]
    tolerance = spec.get("tolerance") or {}
    default_tol = DEFAULT_TOLERANCE.get(dtype, 1e-2)
    plan = {
        "layout": "kernelbench",
        "name": spec.get("name", os.path.basename(os.path.abspath(folder))),
        "reference": os.path.abspath(reference),
        "dtype": dtype,
        "atol": float(tolerance.get("atol", default_tol)),
        "rtol": float(tolerance.get("rtol", default_tol)),
        "precision": spec.get("precision", PRECISION_OF_DTYPE.get(dtype, "fp32")),
        "precision_factor": float(spec.get("precision_factor", 10.0)),
        "unit_roundoff": UNIT_ROUNDOFF.get(dtype, 0.0),
        "fp64_reference": bool(spec.get("fp64_reference", True)),
        "min_match_fraction": float(spec.get("min_match_fraction",
                                             DEFAULT_MATCH_FRACTION.get(dtype, 1.0))),
        "input_seed": int(spec.get("seed", 1234)),
        "shapes": [_shape_entry(s.get("name", i), s.get("params", {}), spec.get("roofline"))
                   for i, s in enumerate(shapes)],
        "forbid": list(spec.get("forbid", [])),
        "candidates": spec.get("candidates", {}),
        "task_dir": base,
        # Shapes not listed for timing, checked for correctness only: a candidate specialised
        # to the listed shapes is caught there.
        "perturbed_shapes": [{"name": str(s.get("name", "p%d" % i)),
                              "params": s.get("params", {})}
                             for i, s in enumerate(spec.get("perturbed_shapes", []))],
        # The scoring baseline (SOL-ExecBench's S = 0.5 anchor): a trusted file defining
        # ModelNew, e.g. the reference written with PyTorch's optimised operators.
        "baseline": os.path.join(base, spec["baseline"]) if spec.get("baseline") else None,
    }
    return plan


def _resolve_axes(definition, workload_axes):
    values = {}
    axes = definition.get("axes", {})
    for name, axis in axes.items():
        if axis.get("type") == "const":
            values[name] = int(axis["value"])
        elif axis.get("type") == "var":
            if name not in workload_axes:
                raise TaskError("workload gives no value for axis %r" % name)
            values[name] = int(workload_axes[name])
    # Expression axes may refer to each other; resolve until nothing changes.
    pending = {n: a for n, a in axes.items() if a.get("type") == "expr"}
    for _ in range(len(pending) + 1):
        for name, axis in list(pending.items()):
            try:
                values[name] = int(expr.evaluate(axis["expression"], values))
                del pending[name]
            except ValueError:
                continue
    if pending:
        raise TaskError("cannot resolve axes %s" % sorted(pending))
    return values


def _tensor_bytes(spec, axes):
    if spec.get("shape") is None:
        return 0
    count = 1
    for dim in spec["shape"]:
        count *= dim_size(dim, axes)
    return count * DTYPE_BYTES.get(spec.get("dtype"), 4)


def dim_size(dim, axes):
    """One entry of a definition's shape: an axis name, or a literal size, which published
    definitions write as a number or as a string of digits ("1" for a kept dimension)."""
    if not isinstance(dim, str) or dim.isdigit():
        return int(dim)
    if dim not in axes:
        raise TaskError("shape names %r, which is not an axis of the definition (axes: %s)"
                        % (dim, ", ".join(sorted(axes)) or "none"))
    return axes[dim]


# SOL-ExecBench's CorrectnessSpec defaults, used for the fields a workload's `correctness`
# object leaves out.
SOLEXEC_CORRECTNESS_DEFAULTS = {"max_atol": 1e-2, "max_rtol": 1e-2,
                                "required_matched_ratio": 1.0, "max_error_cap": None}


def solexec_tolerance(workload):
    """Per-workload tolerance from its `correctness` object, or None when it has none."""
    given = workload.get("correctness")
    if not isinstance(given, dict):
        return None
    merged = dict(SOLEXEC_CORRECTNESS_DEFAULTS, **given)
    return {"atol": float(merged["max_atol"]), "rtol": float(merged["max_rtol"]),
            "min_match_fraction": float(merged["required_matched_ratio"]),
            "max_error_cap": None if merged["max_error_cap"] is None
            else float(merged["max_error_cap"])}


def perturbed_workload(definition, workload):
    """A workload one step off a listed one, for the perturbed-shape check: the first `var`
    axis that no expression axis uses, plus one. None when the problem has constraints
    between axes or inputs the harness cannot regenerate at another size."""
    if definition.get("constraints") or definition.get("custom_inputs_entrypoint"):
        return None
    if any(i.get("type") in ("safetensors", "custom")
           for i in workload.get("inputs", {}).values()):
        return None
    axes = definition.get("axes", {})
    used = " ".join(a.get("expression", "") for a in axes.values() if a.get("type") == "expr")
    for name, axis in axes.items():
        if axis.get("type") == "var" and name in workload.get("axes", {}) and \
                not _mentions(used, name):
            changed = dict(workload, axes=dict(workload["axes"]))
            changed["axes"][name] = int(workload["axes"][name]) + 1
            return name, changed
    return None


def _mentions(text, name):
    import re
    return re.search(r"\b%s\b" % re.escape(name), text) is not None


def load_solexec_problem(folder):
    definition = _read_json(os.path.join(folder, "definition.json"))
    workloads = []
    path = os.path.join(folder, "workload.jsonl")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError as exc:
        raise TaskError("cannot read %s: %s" % (path, exc))
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            workload = json.loads(line.strip())
        except json.JSONDecodeError as exc:
            raise TaskError("%s line %d is not JSON: %s at column %d"
                            % (path, number, exc.msg, exc.colno))
        if not isinstance(workload, dict):
            raise TaskError("%s line %d is not a JSON object" % (path, number))
        workloads.append(workload)
    roofline_path = os.path.join(folder, "roofline.json")
    roofline = _read_json(roofline_path) if os.path.exists(roofline_path) else None
    out_dtypes = [o.get("dtype") for o in definition.get("outputs", {}).values()]
    dtype = out_dtypes[0] if out_dtypes else "float32"
    shapes = []
    for i, workload in enumerate(workloads):
        axes = _resolve_axes(definition, workload.get("axes", {}))
        # Index first: shape names must be unique, and uuids may share a prefix.
        name = "w%d-%s" % (i, str(workload.get("uuid", ""))[:8])
        entry = _shape_entry(name, axes, roofline)
        if entry["bytes"] is None:
            # No roofline given: the memory floor is every input read once and every output
            # written once.
            entry["bytes"] = float(sum(_tensor_bytes(t, axes) for t in
                                       list(definition.get("inputs", {}).values())
                                       + list(definition.get("outputs", {}).values())))
        entry["workload"] = workload
        tolerance = solexec_tolerance(workload)
        if tolerance:
            entry["tolerance"] = tolerance
        shapes.append(entry)
    perturbed = []
    if workloads:
        found = perturbed_workload(definition, workloads[0])
        if found:
            axis, changed = found
            params = _resolve_axes(definition, changed.get("axes", {}))
            perturbed.append({"name": "p-%s=%d" % (axis, changed["axes"][axis]),
                              "params": params, "workload": changed,
                              **({"tolerance": shapes[0]["tolerance"]}
                                 if "tolerance" in shapes[0] else {})})
    tol = DEFAULT_TOLERANCE.get(dtype, 1e-2)
    return {
        "layout": "solexec",
        "name": definition.get("name", os.path.basename(folder)),
        "definition": definition,
        "problem_dir": os.path.abspath(folder),
        "dtype": dtype,
        "atol": tol if dtype in ("float32", "float64") else 1e-2,
        "rtol": tol if dtype in ("float32", "float64") else 1e-2,
        "precision": PRECISION_OF_DTYPE.get(dtype, "fp32"),
        "precision_factor": 10.0,
        "unit_roundoff": UNIT_ROUNDOFF.get(dtype, 0.0),
        "fp64_reference": False,
        "min_match_fraction": 0.99,
        "input_seed": 200,
        "shapes": shapes,
        "forbid": [],
        "candidates": {},
        "perturbed_shapes": perturbed,
        "baseline": None,
    }
