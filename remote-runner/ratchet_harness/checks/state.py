"""State across calls: answers must depend on the inputs, not on what was seen before. Call
with A, then B, then A again, then refill A's buffers in place with B's values: a cache keyed on
shapes, pointers or call counts answers one of these with a stale result."""


def sequence(call, inputs_a, inputs_b, expected_a, expected_b, compare):
    """Run the A, B, A, refilled-A sequence; return a list of failing steps."""
    import torch
    failures = []
    steps = [("A", inputs_a, expected_a), ("B", inputs_b, expected_b), ("A again", inputs_a, expected_a)]
    for label, inputs, expected in steps:
        result = compare(call(inputs), expected)
        if not result["ok"]:
            failures.append({"step": label, "reason": result["reason"]})
    # Same addresses, new contents: the pointer-keyed cache's blind spot.
    for dst, src in zip(inputs_a, inputs_b):
        if isinstance(dst, torch.Tensor) and dst.shape == src.shape:
            dst.copy_(src)
    result = compare(call(inputs_a), expected_b)
    if not result["ok"]:
        failures.append({"step": "A refilled with B in place", "reason": result["reason"]})
    return failures
