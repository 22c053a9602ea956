"""The harness inside the run (train mode): code that runs in every Python process of a training
run, loaded by boot/sitecustomize.py before the script's first line. It watches what the run does
(files, processes), wraps the task's protected evaluation function to capture what it returns and
to check that it runs as shipped, probes the model it receives, and reports all of it to the
harness over a private channel (remote-runner/PROTOCOL.md, "train").

Standard library only, Python 3.8+. Nothing here may change what the run computes: the probes
restore every random-number state they touch, and a failure of the instrumentation is reported,
never raised into the run.
"""


def start():
    from . import runtime
    runtime.start()
