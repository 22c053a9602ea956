"""Static look at a candidate's source: calling the reference (directly or in an except branch
that falls back to it), and calling library functions the task forbids (the kernel must be
written, not borrowed)."""

import ast

REFERENCE_MODULES = {"reference", "ratchet_reference"}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def findings(source, forbid=()):
    """Return a list of {line, kind, detail}. kind is reference_call, reference_import,
    fallback or forbidden_call."""
    tree = ast.parse(source)
    found = []
    forbid = set(forbid)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            module = getattr(node, "module", None)
            if module in REFERENCE_MODULES or any(n in REFERENCE_MODULES for n in names):
                found.append({"line": node.lineno, "kind": "reference_import",
                              "detail": "imports the reference module"})
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in ("Model",) or (name or "").endswith(".Model"):
                found.append({"line": node.lineno, "kind": "reference_call",
                              "detail": "instantiates the reference Model"})
            elif name in forbid:
                found.append({"line": node.lineno, "kind": "forbidden_call",
                              "detail": "calls %s, which this task forbids" % name})
        elif isinstance(node, ast.Try):
            for handler in node.handlers:
                calls = [_dotted(n.func) for n in ast.walk(handler) if isinstance(n, ast.Call)]
                if any(c in forbid or c == "Model" for c in calls if c):
                    found.append({"line": handler.lineno, "kind": "fallback",
                                  "detail": "except branch falls back to the reference or a "
                                  "forbidden library call"})
    found.sort(key=lambda f: f["line"])
    return found
