"""The run's file and process activity, seen through a Python audit hook (PEP 578): every open
for writing of a protected path (even one restored before the run ends), every read of an
evaluation-only file from outside the evaluator, writes outside the run's folder and temp, the
harness's own files touched, and every process the run starts. Reads and writes done by native
code that bypasses Python (a C++ Parquet reader, say) are not seen here."""

import os
import sys

from .client import busy

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_PATH_EVENTS = {
    # event -> indexes of the path arguments that the event changes
    "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "os.truncate": (0,),
    "os.symlink": (1,), "os.link": (1,), "os.chmod": (0,), "os.chown": (0,),
    "shutil.rmtree": (0,), "os.utime": (0,),
}
_PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")
_INTERESTING = frozenset(("open",) + tuple(_PATH_EVENTS) + _PROCESS_EVENTS + ("os.fork", "os.forkpty"))
_MAX_REPORTS = 100
_PYTHON_FLAGS_THAT_DROP_THE_HARNESS = ("-I", "-S", "-E")


def _matches(path, entries):
    """Whether path is one of the entries: a file entry exactly, a folder entry (ending with the
    separator) anywhere under it, the folder itself included."""
    for entry in entries:
        if entry.endswith(os.sep):
            if path.startswith(entry) or path == entry.rstrip(os.sep):
                return True
        elif path == entry:
            return True
    return False


class Watcher:
    def __init__(self, state):
        self.state = state
        config = state.config
        real = lambda p: os.path.join(os.path.realpath(p), "") if p.endswith("/") else os.path.realpath(p)
        self.protected = [real(p) for p in config.get("protected", [])]
        self.evaluation_only = [real(p) for p in config.get("evaluation_only", [])]
        self.harness = [os.path.join(os.path.realpath(p), "") for p in config.get("harness_dirs", [])]
        self.run_root = os.path.join(os.path.realpath(config["run_root"]), "")
        self.writable = [os.path.join(os.path.realpath(p), "") for p in config.get("writable", [])]
        self.reported = set()
        self.reports = 0
        self.forks = 0

    def install(self):
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if event not in _INTERESTING or getattr(busy, "on", False):
            return
        busy.on = True
        try:
            if event == "open":
                self._on_open(args)
            elif event in _PATH_EVENTS:
                if event == "os.link":
                    self._on_link(args[0] if args else None)
                for i in _PATH_EVENTS[event]:
                    if i < len(args):
                        self._on_write(args[i], event)
            elif event in ("os.fork", "os.forkpty"):
                self.forks += 1
            else:
                self._on_process(event, args)
        except Exception as exc:  # the run's own call must go on whatever the watcher thinks of it
            if os.environ.get("RATCHET_INRUN_DEBUG"):
                sys.stderr.write("[ratchet harness] watcher: %r\n" % (exc,))
        finally:
            busy.on = False

    # -- files ---------------------------------------------------------------------------------
    @staticmethod
    def _path(value):
        if isinstance(value, int) or value is None:
            return None
        try:
            return os.path.realpath(os.fsdecode(os.fspath(value)))
        except (TypeError, ValueError):
            return None

    def _on_open(self, args):
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = False
        if isinstance(mode, str):
            writing = any(c in mode for c in "wax+")
        elif isinstance(flags, int):
            writing = bool(flags & _WRITE_FLAGS)
        if writing:
            self._on_write(path, "open")
        elif self.evaluation_only:
            self._on_read(path)

    def _on_write(self, value, event):
        path = self._path(value)
        if path is None:
            return
        if _matches(path, self.harness):
            self._report("file", kind="harness_write", path=path, event=event)
        elif _matches(path, self.protected) or _matches(path, self.evaluation_only):
            self._report("file", kind="protected_write", path=path, event=event)
        elif not _matches(path, [self.run_root] + self.writable):
            self._report("file", kind="outside_write", path=path, event=event)

    def _on_read(self, value, event="open"):
        path = self._path(value)
        if path is None or not _matches(path, self.evaluation_only):
            return
        # Only the evaluation may read it: during an evaluation call, or while the evaluation's
        # module runs its own top-level code on import. A helper of that module called from the
        # training code is the training code reading it.
        if self.state.in_evaluator() or self.state.importing_evaluation:
            return
        self._report("file", kind="evaluation_only_read", path=path, event=event)

    def _on_link(self, value):
        # A hard link is a second name for the file: reads and writes through it look like any
        # other file's.
        path = self._path(value)
        if path is not None and (_matches(path, self.protected) or
                                 _matches(path, self.evaluation_only)):
            self._report("file", kind="protected_link", path=path, event="os.link")

    # -- processes -------------------------------------------------------------------------------
    def _on_process(self, event, args):
        if event == "os.system":
            argv, env = [os.fsdecode(args[0]) if isinstance(args[0], bytes) else str(args[0])], None
        elif event == "subprocess.Popen":
            executable, argv, env = args[0], args[1], args[3] if len(args) > 3 else None
            argv = [argv] if isinstance(argv, (str, bytes)) else list(argv or [])
            if executable and not argv:
                argv = [executable]
        elif event == "os.spawn":
            argv, env = list(args[2] or []), args[3] if len(args) > 3 else None
        else:  # os.exec, os.posix_spawn: (path, argv, env)
            argv, env = list(args[1] or []), args[2] if len(args) > 2 else None
        argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv][:30]
        problems = []
        if env is not None:
            token = os.environ.get("RATCHET_RUN_TOKEN")
            get = env.get if hasattr(env, "get") else (lambda k, d=None: d)
            value = get("RATCHET_RUN_TOKEN") or get(b"RATCHET_RUN_TOKEN")
            if token and value not in (token, token.encode()):
                problems.append("its environment drops the run's marker, so it escapes the harness's "
                                "clean-up")
            boot = os.environ.get("RATCHET_INRUN_BOOT", "")
            pythonpath = get("PYTHONPATH") or get(b"PYTHONPATH") or ""
            if boot and boot not in os.fsdecode(pythonpath):
                problems.append("its environment drops the harness's instrumentation (PYTHONPATH)")
        flags = _python_flags(argv)
        if flags:
            problems.append("it starts Python with %s, which skips the harness's instrumentation"
                            % " ".join(flags))
        self._report("process", event=event, argv=argv, problems=problems, key=(event, tuple(argv[:3])))
        # A program outside Python (`cat data/val.txt`) reads what it is given unseen: naming an
        # evaluation-only file to it counts as reading it.
        cwd = args[2] if event == "subprocess.Popen" and len(args) > 2 and args[2] else None
        for path in _named_paths(argv, cwd):
            self._on_read(path, event)

    # -------------------------------------------------------------------------------------------
    def _report(self, message, key=None, **body):
        key = key or (message, body.get("kind"), body.get("path"))
        if key in self.reported or self.reports >= _MAX_REPORTS:
            return
        self.reported.add(key)
        self.reports += 1
        body["where"] = where(sys._getframe(1), self.run_root)
        path = body.get("path")
        if path and path.startswith(self.run_root):
            body["path"] = os.path.relpath(path, self.run_root)
        self.state.channel.send(message, **body)


def _named_paths(argv, cwd):
    """The words of a command line that could be paths (`data/val.txt`, `--input=data/val.txt`,
    `<data/val.txt`), as absolute paths from the command's folder."""
    base = os.fsdecode(cwd) if cwd is not None else os.getcwd()
    for word in " ".join(argv).split():
        for part in word.split("="):
            part = part.strip("'\"<>|;&()")
            if part and not part.startswith("-"):
                yield os.path.join(base, part)


def _python_flags(argv):
    """The options among -I, -S, -E (alone or combined, e.g. -IS) given to a Python started by
    argv, up to its script: each makes Python skip the harness's bootstrap."""
    words = " ".join(argv).split()
    for i, word in enumerate(words[:3]):
        if os.path.basename(word).startswith("python"):
            found = []
            for option in words[i + 1:]:
                if not option.startswith("-") or option.startswith("--") or option in ("-c", "-m"):
                    break
                if option[1:].isalpha() and set(option[1:]) & set("ISE"):
                    found.append(option)
            return found
    return []


def where(frame, run_root):
    """The innermost frame in the run's own files (else the innermost outside the harness), as
    `path:line`, path relative to the run's folder when inside it."""
    inrun = os.path.dirname(os.path.abspath(__file__))
    fallback = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(inrun):
            full = os.path.realpath(filename) if not filename.startswith("<") else filename
            if full.startswith(run_root):
                return "%s:%d" % (os.path.relpath(full, run_root), frame.f_lineno)
            if fallback is None:
                fallback = "%s:%d" % (filename, frame.f_lineno)
        frame = frame.f_back
    return fallback
