"""Ratchet's harness: runs one experiment on a GPU host and reports it as JSON lines.

It never trusts the code it runs: it measures, checks and reports. Its own logic needs only
the standard library; torch and triton are imported only where a kernel or GPU check needs them.
"""

PROTOCOL_VERSION = 1
__all__ = ["PROTOCOL_VERSION"]
