"""L2 persistence. A candidate that sets aside persisting L2 (cuCtxSetLimit with
CU_LIMIT_PERSISTING_L2_CACHE_SIZE) and marks its data persisting (a stream access-policy
window) keeps that data in L2 through the harness's flush, so it is timed warm while the
reference is timed cold. The time worker resets persisting lines before every round; this
check reads the set-aside and the current stream's window after the candidate ran and fails
when the candidate left either non-zero (the harness itself never sets them)."""


def findings(before, after):
    """before/after: {persisting_limit_bytes, stream_window_bytes}; return a list of issues."""
    found = []
    for key in ("persisting_limit_bytes", "stream_window_bytes"):
        now = after.get(key)
        was = before.get(key) or 0
        if now is not None and now > was:
            found.append({"what": key, "before": was, "after": now})
    return found
