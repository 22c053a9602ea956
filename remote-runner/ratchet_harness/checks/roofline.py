"""A time under the roofline floor is impossible: the work was skipped, cached, or ran where
the timer did not look. The slack absorbs table peaks that are slightly under a chip's boost."""


def impossible(measured_seconds, sol_seconds, slack=0.9):
    """True when the measurement beats the hardware bound by more than the slack allows."""
    if measured_seconds is None or sol_seconds is None:
        return False
    return measured_seconds < sol_seconds * slack
