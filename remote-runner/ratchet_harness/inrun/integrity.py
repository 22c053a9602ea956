"""Does the evaluator run as shipped? Snapshots taken at the earliest moment (the clocks, `math`
and `builtins` before the script's first line; torch, torch.nn.functional and numpy as their
import completes; the evaluation module and every module it binds as its own import completes),
compared at each evaluation call. A replaced function is reported with where its replacement was
defined; a changed constant of the evaluation module with the line that assigned it, when the
module's own attribute assignment saw it."""

import os
import re
import sys
import types

_SIMPLE = (int, float, complex, str, bytes, bool, type(None))
_MISSING = object()
# Library modules whose functions an evaluator reaches; snapshotted as soon as each is imported.
WATCHED_ON_IMPORT = ("torch", "torch.nn.functional", "numpy", "math", "time", "builtins")
CLOCKS = ("time", "perf_counter", "monotonic", "process_time", "time_ns", "perf_counter_ns",
          "monotonic_ns", "process_time_ns", "sleep")


def _is_simple(value, depth=0):
    if isinstance(value, _SIMPLE):
        return True
    if depth < 3 and isinstance(value, (tuple, frozenset)):
        return all(_is_simple(v, depth + 1) for v in value)
    return False


def _content(value):
    """A comparable copy of a small container of simple values (an evaluation config dict, a
    list of split names); None when it is too big or holds objects."""
    try:
        if isinstance(value, dict) and len(value) <= 256:
            if all(_is_simple(k) and _is_simple(v) for k, v in value.items()):
                return ("dict", tuple(sorted((repr(k), repr(v)) for k, v in value.items())))
        if isinstance(value, (list, set)) and len(value) <= 1024 and all(_is_simple(v) for v in value):
            items = [repr(v) for v in value]
            return (type(value).__name__, tuple(sorted(items) if isinstance(value, set) else items))
    except Exception:
        return None
    return None


_CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _definition_file(value):
    """The file a function (or what a wrapper wraps last) was defined in, when it has one."""
    for _ in range(5):
        code = getattr(value, "__code__", None)
        if isinstance(code, types.CodeType):
            return code.co_filename
        value = getattr(value, "__wrapped__", None)
        if value is None:
            return None
    return None


class Entry:
    """What one name was bound to at snapshot time."""
    __slots__ = ("obj", "code", "defaults", "kwdefaults", "content", "simple")

    def __init__(self, obj, deep):
        self.obj = obj
        self.simple = _is_simple(obj)
        self.code = getattr(obj, "__code__", None) if isinstance(obj, types.FunctionType) else None
        self.defaults = getattr(obj, "__defaults__", None) if self.code is not None else None
        self.kwdefaults = getattr(obj, "__kwdefaults__", None) if self.code is not None else None
        self.content = _content(obj) if deep else None

    def changed(self, now):
        if now is _MISSING:
            return "removed"
        if self.simple:
            if not _is_simple(now) or type(now) is not type(self.obj) or now != self.obj:
                # NaN != NaN: the same float object is unchanged.
                if not (now is self.obj):
                    return "value"
            return None
        if now is not self.obj:
            return "replaced"
        if self.code is not None:
            if now.__code__ is not self.code:
                return "code"
            if now.__defaults__ is not self.defaults or now.__kwdefaults__ is not self.kwdefaults:
                return "defaults"
        if self.content is not None and _content(now) != self.content:
            return "contents"
        return None


# Files under this folder are named relative to it in the evidence (the run's folder).
relative_to = [None]


def _place(filename, line):
    root = relative_to[0]
    if root and filename.startswith(root):
        filename = os.path.relpath(filename, root)
    return "%s:%d" % (filename, line)


def describe(value, code=None):
    """A short, safe description of a value for the evidence: a constant's repr, a function's
    name and where it was defined (by `code`, the code it had when snapshotted, when given)."""
    code = code or getattr(value, "__code__", None)
    if isinstance(code, types.CodeType):
        return "%s() defined at %s" % (getattr(value, "__qualname__", "?"),
                                       _place(code.co_filename, code.co_firstlineno))
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return "built-in %s()" % getattr(value, "__name__", "?")
    if _is_simple(value):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return "%s object" % type(value).__name__


def _show_content(content):
    """A container's content as recorded by _content, written out for the evidence."""
    if content is None:
        return "(not a container of plain values)"
    kind, items = content
    if kind == "dict":
        text = "{%s}" % ", ".join("%s: %s" % pair for pair in items)
    else:
        text = ("[%s]" if kind == "list" else "{%s}") % ", ".join(items)
    return text if len(text) <= 200 else text[:197] + "..."


class Snapshot:
    """Names of one namespace (a module's globals, a class's attributes) and what they were."""

    def __init__(self, label, namespace, deep=False, only=None):
        self.label = label
        self.entries = {}
        for name, value in list(namespace.items()):
            if only is not None and name not in only:
                continue
            if name.startswith("__") and name.endswith("__") and name not in ("__call__",):
                continue
            self.entries[name] = Entry(value, deep)

    def changes(self, namespace):
        found = []
        for name, entry in self.entries.items():
            now = namespace.get(name, _MISSING)
            how = entry.changed(now)
            if how == "contents":  # the same object, edited in place: show what it held
                found.append({"name": "%s.%s" % (self.label, name), "change": how,
                              "before": _show_content(entry.content), "after": _show_content(_content(now))})
            elif how:
                found.append({
                    "name": "%s.%s" % (self.label, name),
                    "change": how,
                    "before": describe(entry.obj, entry.code),
                    "after": "(removed)" if now is _MISSING else describe(now),
                })
        return found


class Integrity:
    """Every snapshot of a run's process, keyed by what it covers."""

    def __init__(self):
        self.snapshots = {}  # label -> (Snapshot, namespace getter)
        self.assignments = []  # (label, name, file, line) seen by watched modules

    def add_module(self, module, deep=False):
        label = module.__name__
        if label in self.snapshots:
            return
        self.snapshots[label] = (Snapshot(label, vars(module), deep=deep), lambda m=module: vars(m))

    def add_class(self, cls, label):
        if label in self.snapshots:
            return
        self.snapshots[label] = (Snapshot(label, dict(vars(cls))), lambda c=cls: dict(vars(c)))

    def add_function(self, label, function):
        """A function no namespace of the run holds, only a wrapper: the evaluator itself, which
        the run can still reach (`evaluate.__wrapped__`) and give other code or defaults."""
        module, _, name = label.rpartition(".")
        self.snapshots[label + "()"] = (Snapshot(module, {name: function}), lambda: {name: function})

    def add_clocks(self, time_module):
        self.snapshots["time"] = (Snapshot("time", vars(time_module), only=CLOCKS),
                                  lambda m=time_module: vars(m))

    def on_module_imported(self, name):
        """Called when a watched library finishes importing."""
        module = sys.modules.get(name)
        if module is None:
            return
        if name == "time":
            self.add_clocks(module)
            return
        self.add_module(module)
        if name == "torch":
            for cls_name in ("Tensor",):
                cls = getattr(module, cls_name, None)
                if isinstance(cls, type):
                    self.add_class(cls, "torch.Tensor")
            nn = getattr(module, "nn", None)
            mod_cls = getattr(nn, "Module", None) if nn is not None else None
            if isinstance(mod_cls, type):
                self.add_class(mod_cls, "torch.nn.Module")

    def add_evaluation_module(self, module):
        """The protected module with the evaluator: every global, containers by content, its
        classes' methods, and the library modules it binds."""
        self.add_module(module, deep=True)
        for name, value in list(vars(module).items()):
            if isinstance(value, type) and getattr(value, "__module__", None) == module.__name__:
                self.add_class(value, "%s.%s" % (module.__name__, name))
            elif isinstance(value, types.ModuleType):
                self.add_module(value)

    def changes(self, evaluation_module=None, library_roots=()):
        """What changed since each snapshot, as evidence. Two kinds of change are a library's or
        the evaluator's own business and are left out: a library replacing one of its functions
        with another of its own (torch wraps some of its functions when torch.compile loads),
        and the evaluation module updating a lower-case global (a cache) through its own code.
        Anything assigned from outside, and every constant, function or class, counts, except a
        constant of the evaluation module that held None (a cache its own code fills in)."""
        where = {}
        for label, name, file, line in self.assignments:
            where["%s.%s" % (label, name)] = _place(file, line)
        roots = tuple(os.path.join(os.path.realpath(r), "") for r in library_roots if r)
        found = []
        for label, (snapshot, namespace) in list(self.snapshots.items()):
            try:
                current = namespace()
                for change in snapshot.changes(current):
                    name = change["name"]
                    short = name[len(snapshot.label) + 1:]
                    if name in where:
                        change["assigned_at"] = where[name]
                    elif label == evaluation_module:
                        entry = snapshot.entries[short]
                        kind_of_code = entry.code is not None or isinstance(entry.obj, (type, types.ModuleType))
                        if not kind_of_code and not _CONSTANT_NAME.match(short):
                            continue
                        # A name that held None and now holds something, set by none but the
                        # module's own code, is a cache the module filled in (`_TRAIN = None`, then
                        # `global _TRAIN` in a loader).
                        if entry.obj is None and not kind_of_code:
                            continue
                    else:
                        new_file = _definition_file(current.get(short))
                        if new_file and roots and os.path.realpath(new_file).startswith(roots):
                            continue
                    found.append(change)
            except Exception as exc:
                found.append({"name": label, "change": "unreadable", "before": "", "after": repr(exc)})
        return found

    def watch_assignments(self, module):
        """Record the frame of every attribute assignment on a module (its class becomes a
        ModuleType subclass that notes the caller, then assigns as usual)."""
        integrity = self

        class WatchedModule(type(module)):
            def __setattr__(self, name, value):
                try:
                    frame = sys._getframe(1)
                    if len(integrity.assignments) < 200:
                        integrity.assignments.append((self.__name__, name, frame.f_code.co_filename,
                                                      frame.f_lineno))
                except Exception:
                    pass
                super().__setattr__(name, value)

            def __delattr__(self, name):
                try:
                    frame = sys._getframe(1)
                    integrity.assignments.append((self.__name__, name, frame.f_code.co_filename,
                                                  frame.f_lineno))
                except Exception:
                    pass
                super().__delattr__(name)

        try:
            module.__class__ = WatchedModule
        except TypeError:
            pass
