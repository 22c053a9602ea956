"""The causality probe: a sequence model evaluated on token indices must not see the future. At
the evaluator's first call of the model it receives, the model is run once more on the same batch
and once on the batch with every token after position t changed; its outputs at positions <= t
must not move beyond numerical noise. A leak (a missing causal mask, attention that reads ahead)
is reported with the first leaking position and the size of the change. Random-number states are
saved and restored around the extra calls, so the evaluation computes what it would without them.
"""

import sys
import time


class Probe:
    def __init__(self, module, requested):
        self.module = module
        self.requested = requested
        self.outcome = {"verdict": "skip", "reason": "the evaluator never called the model it received"}
        self._had_forward = "forward" in module.__dict__
        self._saved = module.__dict__.get("forward")
        forward = module.forward
        probe = self

        def forward_with_probe(*args, **kwargs):
            probe.disarm()
            try:
                probe.outcome = run(forward, args, kwargs, compiled=hasattr(module, "_orig_mod"))
            except Exception as exc:
                probe.outcome = {"verdict": "skip", "reason": "the probe could not run the model: %r" % (exc,)}
            return forward(*args, **kwargs)

        # An instance attribute shadows the class's forward for this object only; nn.Module's
        # __call__ (hooks included) still runs as usual around it.
        module.__dict__["forward"] = forward_with_probe

    def disarm(self):
        if self._had_forward:
            self.module.__dict__["forward"] = self._saved
        else:
            self.module.__dict__.pop("forward", None)

    def result(self):
        self.disarm()
        outcome = dict(self.outcome)
        outcome["requested"] = self.requested
        return outcome


def arm(state, args, kwargs):
    """Installs the probe on the first torch module among the evaluator's arguments, when the task
    does not switch it off; None when there is nothing to probe."""
    probes = state.config.get("probes", "auto")
    if probes != "auto" and "causal-lm" not in probes:
        return None
    torch = sys.modules.get("torch")
    module_type = getattr(getattr(torch, "nn", None), "Module", None)
    if not isinstance(module_type, type):
        return None
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, module_type):
            return Probe(value, probes != "auto")
    return None


def _per_position(out, batch, steps):
    """The output as (batch, steps, -1), from logits (B, T, V), per-token losses (B, T) or (B*T,),
    or the first tensor of a tuple or dict; None when it has no per-position values."""
    torch = sys.modules["torch"]
    if isinstance(out, (tuple, list)):
        out = next((o for o in out if isinstance(o, torch.Tensor)), None)
    elif isinstance(out, dict):
        out = next((o for o in out.values() if isinstance(o, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor) or out.dim() == 0:
        return None
    if out.dim() >= 2 and out.shape[0] == batch and out.shape[1] == steps:
        return out.reshape(batch, steps, -1)
    if out.shape[0] == batch * steps:
        return out.reshape(batch, steps, -1)
    return None


# Rows of the batch the probe runs on, when the model is not compiled for the batch's shape.
PROBE_ROWS = 4


def run(forward, args, kwargs, compiled=False):
    torch = sys.modules["torch"]
    tokens_at = next((i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.dim() == 2
                      and not a.is_floating_point() and not a.is_complex() and a.dtype != torch.bool), None)
    if tokens_at is None:
        return {"verdict": "skip", "reason": "the model's first argument is not a (batch, time) tensor of token indices"}
    batch = args[tokens_at].shape[0]
    if not compiled and batch > PROBE_ROWS:
        # A few rows cost a fraction of the call; a compiled model keeps the shape it was compiled
        # for, since another would compile it again.
        cut = lambda a: a[:PROBE_ROWS] if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == batch else a
        args = tuple(cut(a) for a in args)
        kwargs = {k: cut(v) for k, v in kwargs.items()}
    tokens = args[tokens_at]
    batch, steps = tokens.shape
    if steps < 4:
        return {"verdict": "skip", "reason": "sequences of %d tokens are too short to probe" % steps}
    t = steps // 2
    changed = tokens.clone()
    tail = tokens[:, t + 1:]
    new_tail = tail.roll(1, 0) if batch > 1 else tail.flip(1)
    if torch.equal(new_tail, tail):
        new_tail = (tail + 1) % (int(tokens.max()) + 1)
    changed[:, t + 1:] = new_tail

    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if cuda else None

    def call(tensor):
        torch.set_rng_state(cpu_state)
        if cuda:
            torch.cuda.set_rng_state_all(cuda_state)
        probe_args = list(args)
        probe_args[tokens_at] = tensor
        with torch.no_grad():
            out = _per_position(forward(*probe_args, **kwargs), batch, steps)
        return None if out is None else out.detach().float()

    started = time.perf_counter()
    try:
        reference = call(tokens)
        if reference is None:
            return {"verdict": "skip", "reason": "the model's output has no per-position values (a scalar loss?)"}
        moved = call(changed)
        change = (moved - reference).abs().amax(dim=(0, 2))[: t + 1]
        scale = float(reference[:, : t + 1].abs().max()) if reference.numel() else 0.0
        tolerance = 1e-4 * max(1.0, scale)
        noise = 0.0
        if float(change.max()) > tolerance:
            # Something moved: measure how much the same batch moves on its own (dropout left on,
            # non-deterministic kernels) before calling it a leak.
            noise = float((call(tokens) - reference).abs().amax())
            tolerance = max(tolerance, 10.0 * noise)
    finally:
        torch.set_rng_state(cpu_state)
        if cuda:
            torch.cuda.set_rng_state_all(cuda_state)
    leaking = [i for i, c in enumerate(change.tolist()) if c > tolerance]
    evidence = {
        "batch": batch, "steps": steps, "changed_after": t, "max_change": float(change.max()),
        "tolerance": tolerance, "noise": noise, "seconds": round(time.perf_counter() - started, 4),
    }
    if leaking:
        evidence.update(verdict="fail", first_leak=leaking[0], leaking_positions=len(leaking),
                        change_at_first_leak=float(change[leaking[0]]))
        return evidence
    evidence["verdict"] = "pass"
    return evidence
