"""Python imports this module before the run's first line, because the harness puts this folder
first on the run's PYTHONPATH: that is how the harness's instrumentation reaches every Python
process of a run (including those `uv run` or `torchrun` start) without touching the user's files.
It starts the instrumentation, then runs the sitecustomize it shadows, if the environment has one.
"""

import os
import sys


def _start_instrumentation():
    package = os.environ.get("RATCHET_INRUN")
    if not package:
        return
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "_ratchet_inrun", os.path.join(package, "__init__.py"),
            submodule_search_locations=[package])
        module = importlib.util.module_from_spec(spec)
        sys.modules["_ratchet_inrun"] = module
        spec.loader.exec_module(module)
        module.start()
    except Exception as exc:  # the run goes on; the harness notices a process that never reported
        sys.stderr.write("[ratchet harness] instrumentation did not start: %r\n" % (exc,))


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        if folder == here:
            continue
        candidate = os.path.join(folder, "sitecustomize.py")
        if os.path.isfile(candidate):
            import importlib.util
            spec = importlib.util.spec_from_file_location("_shadowed_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.stderr.write("[ratchet harness] %s raised %r\n" % (candidate, exc))
            return


_start_instrumentation()
_run_shadowed_sitecustomize()
