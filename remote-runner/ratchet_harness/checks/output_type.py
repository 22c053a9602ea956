"""Outputs must be plain tensors: a lazy tensor subclass can defer the work until someone reads
the values, after the timer stopped, or fake its comparison."""


def flatten(output):
    if isinstance(output, (tuple, list)):
        items = []
        for item in output:
            items.extend(flatten(item))
        return items
    return [output]


def check(output, device_type):
    import torch
    problems = []
    for i, item in enumerate(flatten(output)):
        if type(item) is not torch.Tensor:  # exact type: subclasses are refused on purpose
            problems.append({"output": i, "type": type(item).__module__ + "." +
                             type(item).__qualname__})
        elif item.device.type != device_type:
            problems.append({"output": i, "device": str(item.device)})
    return problems
