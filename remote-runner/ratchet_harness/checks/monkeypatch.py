"""Replaced functions: a candidate that swaps torch.cuda.Event, synchronize, time.perf_counter,
a torch op or the reference's own code changes what the harness measures or compares. The
harness keeps its own references to the timers, captured before the candidate is imported, and
reports any identity that changed."""

import sys


def _watched_objects(extra_modules=()):
    objs = {}
    import time
    objs["time"] = time
    try:
        import torch
        import torch.nn.functional as F
        objs.update({"torch": torch, "torch.nn.functional": F, "torch.Tensor": torch.Tensor,
                     "torch.nn.Module": torch.nn.Module})
        if torch.cuda.is_available():
            objs["torch.cuda"] = torch.cuda
            objs["torch.cuda.Event"] = torch.cuda.Event
    except ImportError:
        pass
    for mod in extra_modules:
        objs[getattr(mod, "__name__", repr(mod))] = mod
        model = getattr(mod, "Model", None)
        if model is not None:
            objs[mod.__name__ + ".Model"] = model
    return objs


def snapshot(extra_modules=()):
    result = {}
    for label, obj in _watched_objects(extra_modules).items():
        attrs = {}
        for name, value in list(vars(obj).items()):
            # Functions and classes only: data such as the shape globals the harness itself
            # sets on the reference is not behaviour.
            if callable(value):
                attrs[name] = id(value)
        result[label] = (obj, attrs)
    return result


def changed(before):
    """Attributes present before whose object changed or that disappeared. Attributes that
    appear only later are ignored: torch fills some lazily on first use."""
    found = []
    for label, (obj, attrs) in before.items():
        now = vars(obj)
        for name, ident in attrs.items():
            if name not in now:
                found.append("%s.%s removed" % (label, name))
            elif id(now[name]) != ident:
                found.append("%s.%s replaced" % (label, name))
    return sorted(found)


__all__ = ["snapshot", "changed", "sys"]
