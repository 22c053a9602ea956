"""Reads metrics out of a training script's output: `name: number` lines (the autoresearch
summary block) and lines that are a JSON object (loggers that print dicts)."""

import json
import math
import re

# A name, a colon or equals sign, one number and nothing else: "val_bpb:   0.9979".
# Requiring the whole line keeps prose such as "step 10: loss 3.2 lr 1e-3" out.
_NAME_VALUE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_./\-]*)\s*[:=]\s*"
    r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|infinity))\s*$",
    re.IGNORECASE,
)


def _number(text):
    value = float(text)
    return value


def parse_line(line):
    """Return a list of (name, value, raw) for the metrics on one line; value is a float, and
    None when the line says nan or inf, so a diverged run reports its metric as missing."""
    stripped = line.strip()
    if not stripped:
        return []
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            return []
        if not isinstance(obj, dict):
            return []
        found = []
        for key, val in obj.items():
            # bool is an int in Python; a flag is not a metric.
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                continue
            fval = float(val)
            found.append((str(key), fval if math.isfinite(fval) else None, str(val)))
        return found
    match = _NAME_VALUE.match(stripped)
    if not match:
        return []
    raw = match.group(2)
    value = _number(raw)
    return [(match.group(1), value if math.isfinite(value) else None, raw)]
