"""Safe arithmetic on shape parameters for rooflines ("2*M*N*K", "M*N*2 + N*2")."""

import ast
import operator

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS = {"min": min, "max": max, "ceil_div": lambda a, b: -(-a // b)}


def evaluate(text, names):
    """Evaluate an arithmetic expression over the given names. Only numbers, names, + - * / //
    % **, parentheses and min/max/ceil_div are allowed: task files are data, not code."""
    if isinstance(text, (int, float)):
        return text
    tree = ast.parse(str(text), mode="eval")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError("unknown name %r in %r" % (node.id, text))
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _FUNCS and not node.keywords:
            return _FUNCS[node.func.id](*[walk(a) for a in node.args])
        raise ValueError("not allowed in an expression: %s" % ast.dump(node))

    return walk(tree)
