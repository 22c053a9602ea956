"""State across calls: answers must depend on the inputs, not on what was seen before. Call
with A, then B, then A again, then refill A's buffers in place with B's values: a cache keyed on
shapes, pointers or call counts answers one of these with a stale result."""


def sequence(call, inputs_a, inputs_b, expected_a, expected_b, compare, updated=()):
    """Run the A, B, A, refilled-A sequence; return a list of failing steps. `updated`: inputs
    the task's reference updates in place; they are put back to the step's values before each
    call, so an in-place update is not mistaken for state carried across calls."""
    import torch
    failures = []
    keep = {i: (inputs_a[i].detach().clone(), inputs_b[i].detach().clone()) for i in updated}

    def put_back(inputs, which):
        for i, values in keep.items():
            inputs[i].copy_(values[which])

    steps = [("A", inputs_a, expected_a, 0), ("B", inputs_b, expected_b, 1),
             ("A again", inputs_a, expected_a, 0)]
    for label, inputs, expected, which in steps:
        put_back(inputs, which)
        result = compare(call(inputs), expected)
        if not result["ok"]:
            failures.append({"step": label, "reason": result["reason"]})
    # Same addresses, new contents: the pointer-keyed cache's blind spot.
    put_back(inputs_b, 1)
    for dst, src in zip(inputs_a, inputs_b):
        if isinstance(dst, torch.Tensor) and dst.shape == src.shape:
            dst.copy_(src)
    result = compare(call(inputs_a), expected_b)
    if not result["ok"]:
        failures.append({"step": "A refilled with B in place", "reason": result["reason"]})
    return failures
