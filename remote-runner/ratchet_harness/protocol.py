"""The JSON-lines protocol: one event per line on stdout, each versioned and tagged with the
experiment id. PROTOCOL.md and protocol.schema.json describe the same events."""

import json
import math
import sys
import threading
import time

from . import PROTOCOL_VERSION

EVENT_TYPES = ("start", "log", "metric", "audit", "resource", "timing", "probe", "end")
END_REASONS = ("ok", "failed", "timeout", "cancelled", "error")
VERDICTS = ("pass", "fail", "warn", "skip")


def _finite(value):
    """JSON has no NaN or Infinity; a non-finite float becomes null so every line parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Emitter:
    """Writes events to one stream. Thread-safe: reader threads for a child's stdout and stderr
    emit concurrently, and a line must never interleave with another."""

    def __init__(self, experiment_id, stream=None):
        self.experiment_id = str(experiment_id)
        # Bind the real stdout now: code we run later may replace sys.stdout.
        self._stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._seq = 0

    def emit(self, type_, **fields):
        if type_ not in EVENT_TYPES:
            raise ValueError("unknown event type %r" % (type_,))
        with self._lock:
            event = {
                "protocol": PROTOCOL_VERSION,
                "type": type_,
                "experiment_id": self.experiment_id,
                "seq": self._seq,
                "time": round(time.time(), 6),
            }
            self._seq += 1
            event.update(_finite(fields))
            line = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                # The reader went away (engine killed); keep running so the child is still cleaned up.
                pass
            return event

    def log(self, stream, text, **extra):
        return self.emit("log", stream=stream, text=text, **extra)

    def audit(self, check, verdict, message, evidence=None, **extra):
        if verdict not in VERDICTS:
            raise ValueError("unknown verdict %r" % (verdict,))
        return self.emit("audit", check=check, verdict=verdict, message=message,
                         evidence=evidence or {}, **extra)

    def end(self, reason, exit_code=None, signal=None, wall_seconds=None, message=None):
        if reason not in END_REASONS:
            raise ValueError("unknown end reason %r" % (reason,))
        fields = {"reason": reason, "exit_code": exit_code, "signal": signal,
                  "wall_seconds": wall_seconds}
        if message:
            fields["message"] = message
        return self.emit("end", **fields)
