"""The run's side of the channel to the harness: one Unix-socket connection per process, opened
before the script's first line. The harness answers the process's hello with a key of its own for
that connection, and every later message carries an HMAC under that key, so output printed by
the run, or a second connection the script opens itself, can never pass for the instrumentation.
"""

import hashlib
import hmac
import json
import os
import socket
import sys
import threading

# Set while the instrumentation itself works (sending, connecting): its own socket and file calls
# must not be reported as the run's.
busy = threading.local()


class Channel:
    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._sock = None
        self._key = None
        self._seq = 0
        self._pid = None
        self.broken = None

    def _connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.path)
        hello = {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "argv": list(getattr(sys, "orig_argv", None) or sys.argv or [])[:20],
            "executable": sys.executable,
            "python": sys.version.split()[0],
            "rank": os.environ.get("RANK"),
        }
        sock.sendall((json.dumps(hello) + "\n").encode("utf-8"))
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("the harness closed the channel")
            reply += chunk
        self._key = bytes.fromhex(json.loads(reply.decode("utf-8"))["key"])
        self._sock = sock
        self._seq = 0
        self._pid = os.getpid()

    def after_fork_in_child(self):
        # The inherited connection belongs to the parent: a child opens its own on first use.
        self._lock = threading.Lock()
        self._sock = None
        self._pid = None

    def send(self, message_kind, **body):
        """Reports one message; never raises into the run (a lost harness is not the run's fault)."""
        was_busy = getattr(busy, "on", False)
        busy.on = True
        try:
            with self._lock:
                if self._pid != os.getpid():
                    self._connect()
                payload = json.dumps([self._seq, message_kind, body], sort_keys=True,
                                     separators=(",", ":"), default=repr)
                mac = hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).hexdigest()
                line = json.dumps({"p": payload, "mac": mac}) + "\n"
                self._sock.sendall(line.encode("utf-8"))
                self._seq += 1
                return True
        except Exception as exc:
            self.broken = repr(exc)
            return False
        finally:
            busy.on = was_busy
