"""Background threads: a candidate that returns at once and finishes the work on a thread
escapes the timer. Threads alive after the candidate ran that were not there before are
reported."""

import threading


def snapshot():
    return {t.ident for t in threading.enumerate()}


def new_threads(before):
    return sorted(t.name for t in threading.enumerate() if t.ident not in before and t.is_alive())
