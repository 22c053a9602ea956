"""Work outside the timed stream. Each timed call is measured twice: by CUDA events on the
current stream, and by the host clock from before the call to after a full device synchronise
(all streams). For honest code the difference is launch and synchronise overhead, the same for
reference and candidate; work left running on another stream shows up only in the second."""


def excess_seconds(candidate_gap, reference_gap):
    return max(0.0, candidate_gap - reference_gap)


def suspicious(candidate_gap, reference_gap, candidate_event_seconds,
               floor_seconds=50e-6, fraction=0.5):
    """True when the candidate's unexplained host-side time exceeds both an absolute floor (host
    jitter) and a fraction of its own measured time."""
    excess = excess_seconds(candidate_gap, reference_gap)
    return excess > max(floor_seconds, fraction * candidate_event_seconds)
