"""What the run's result depends on besides the code: recorded in the `start` event."""

import os
import platform
import socket
import sys


def describe():
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
