"""Serves the channel the run's instrumented Python processes report on: a Unix socket in a
private folder. Each process connects once, says hello with its pid (checked against the socket's
peer credentials where the system gives them), and gets a key of its own; every later message
must carry an HMAC under that key and the next sequence number. A forged, replayed or unsigned
message, or a second live connection claiming a pid, is recorded as tampering."""

import hashlib
import hmac
import json
import os
import socket
import struct
import threading
import time

_MAX_LINE = 1 << 20


class Message:
    __slots__ = ("time", "pid", "kind", "body")

    def __init__(self, when, pid, kind, body):
        self.time = when
        self.pid = pid
        self.kind = kind
        self.body = body


class ChannelServer:
    def __init__(self, folder):
        self.path = os.path.join(folder, "channel.sock")
        self.messages = []
        self.processes = {}  # pid -> hello
        self.tampering = []
        self._open = {}  # pid -> connection thread still reading
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.listen(128)
        self._closed = False
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept, name="channel-accept", daemon=True)
        self._acceptor.start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _tamper(self, pid, why):
        with self._lock:
            if len(self.tampering) < 50:
                self.tampering.append({"pid": pid, "problem": why})

    def _serve(self, conn):
        reader = conn.makefile("rb")
        pid = None
        try:
            line = reader.readline(_MAX_LINE)
            hello = json.loads(line.decode("utf-8"))
            pid = int(hello["pid"])
            peer = _peer_pid(conn)
            if peer is not None and peer != pid:
                self._tamper(pid, "a connection from pid %d claimed to be pid %d" % (peer, pid))
                return
            earlier = self._open.get(pid)
            if earlier is not None:
                # The same pid again is an exec'd image (its old socket closes on exec) unless
                # the old connection is still live.
                earlier.join(timeout=2.0)
                if earlier.is_alive():
                    self._tamper(pid, "a second connection while the process's own was open: "
                                 "something in the run tried to talk to the harness itself")
                    return
            self._open[pid] = threading.current_thread()
            key = os.urandom(32)
            with self._lock:
                self.processes.setdefault(pid, hello)
            conn.sendall((json.dumps({"key": key.hex()}) + "\n").encode("utf-8"))
            seq = 0
            for line in iter(lambda: reader.readline(_MAX_LINE), b""):
                received = time.monotonic()
                try:
                    outer = json.loads(line.decode("utf-8"))
                    payload = outer["p"]
                    mac = hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(mac, str(outer.get("mac", ""))):
                        self._tamper(pid, "a message on the process's channel without the right key")
                        continue
                    number, kind, body = json.loads(payload)
                except (ValueError, KeyError, TypeError):
                    self._tamper(pid, "a line on the channel that is not a message")
                    continue
                if number != seq:
                    self._tamper(pid, "message %s out of sequence (expected %d)" % (number, seq))
                seq = number + 1
                with self._lock:
                    self.messages.append(Message(received, pid, kind, body))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            try:
                reader.close()
                conn.close()
            except OSError:
                pass

    def close(self, drain_seconds=2.0):
        """Stops accepting; waits briefly for connections to deliver what they sent."""
        self._closed = True
        deadline = time.monotonic() + drain_seconds
        for thread in list(self._threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        try:
            self._sock.close()
        except OSError:
            pass

    def snapshot(self):
        with self._lock:
            return list(self.messages), dict(self.processes), list(self.tampering)


def _peer_pid(conn):
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[0]
    except OSError:
        return None
