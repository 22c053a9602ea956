"""Timing done the careful way (PROTOCOL.md, "Timing", says the same in prose):

- warm-up until stable: batches of calls timed by CUDA events until three batch medians in a
  row agree within 1% (at least ~250 ms and `warmup` calls; at most ~2 s), so compilation,
  autotuning, allocation and the clock ramp stay out of the numbers;
- rounds sized by time, not by count: enough calls that one round's measured GPU time reaches
  `min_round_ms`, so a short disturbance (a clock dip, another tenant's burst) moves a few
  samples of a round, not its median;
- a fresh set of inputs per call, rotating through several sets at different addresses, so an
  output cache keyed on the input cannot answer and the timed outputs can be checked after;
- before each call the L2 is flushed by zeroing a buffer twice the device's L2 (256 MB when the
  size is unknown); before each round, persisting L2 lines are reset to normal
  (cuCtxResetPersistingL2Cache) and the persisting set-aside is read, so data pinned in L2 by a
  candidate neither survives the flush nor goes unseen;
- CUDA events around each call, a round queued back to back and read after a full device
  synchronise (all streams), then a short cross-check pass that times each call alone by the
  host clock to the end of a full synchronise (see checks/unsynced.py);
- spacing between calls, decided after warm-up (`spacing`; again, once, if a power cap first
  shows during the rounds): a call whose host side (Python, launches) takes at least half its
  GPU time is launched ahead, behind a GPU-side wait, so the events time the GPU's work and not
  the host's jitter (its host time is reported beside it);
  under a power cap the calls are spaced by idle time so the board's average power stays under
  the cap and the clock stays where it is when not power limited;
- optionally, control rounds of another callable (the reference) interleaved with the rounds
  being measured, so both see the same clocks and temperature;
- one documented discard rule (see `outlier_rounds`), applied the same way to every
  measurement; discarded rounds are re-measured and reported, never hidden.
The timer functions used are those captured before the candidate was imported."""

import gc
import math
import statistics

FALLBACK_FLUSH_BYTES = 256 * 1024 * 1024
MIN_FLUSH_BYTES = 64 * 1024 * 1024

# Discard rule: a round median is an outlier when it is further from the median of all round
# medians than OUTLIER_MADS robust standard deviations (1.4826 x MAD) and than
# OUTLIER_FLOOR of that median. At most MAX_REPLACED rounds per measurement are re-measured.
OUTLIER_MADS = 5.0
OUTLIER_FLOOR = 0.02
MAX_REPLACED = 2

WARMUP_MIN_MS = 250.0
WARMUP_MAX_MS = 2000.0
WARMUP_STABLE = 0.01

# Power- or thermally-capped clocks (NVML clock-event reasons: SW power cap 0x4, HW slowdown
# 0x8, SW thermal 0x20, HW thermal 0x40, HW power brake 0x80). Under a cap the board's power
# controller moves the SM clock on a ~100 ms scale and overshoots when the power average first
# reaches the cap, so a capped measurement warms up longer (until the SM clock holds within
# 3% over three batches, at least 1.5 s, at most 4 s) and its rounds are CAPPED_ROUND_FACTOR
# times longer, to average the controller's swings instead of sampling them.
CAP_REASONS = 0x4 | 0x8 | 0x20 | 0x40 | 0x80
CAPPED_WARMUP_MIN_MS = 1500.0
CAPPED_WARMUP_MAX_MS = 4000.0
CAPPED_CLOCK_STABLE = 0.03
CAPPED_ROUND_FACTOR = 4.0

# Spacing (see `spacing`). A call is host-bound when its median host time per call reaches
# HOST_BOUND of its median event time; it is then held behind a GPU-side wait (torch.cuda._sleep,
# captured before the candidate is imported) of LAUNCH_AHEAD times its host time, so the CPU has
# queued the whole call before its start event runs. Under a power cap, each call is followed by
# POWER_GAP times its GPU time of idle (one thread spinning), which keeps the board's average
# power under the cap. The wait never exceeds HOLD_MAX_MS.
HOST_BOUND = 0.5
LAUNCH_AHEAD = 1.5
POWER_GAP = 1.0
HOLD_MAX_MS = 50.0
ROUND_WALL_MAX_MS = 2000.0
FALLBACK_SM_MHZ = 2000.0


def _cap_seen(sample):
    """Whether an NVML sample reports a power or thermal clock cap."""
    return bool(sample and sample.get("throttle_reasons", 0) & CAP_REASONS)


class Timers:
    """Timer functions captured at worker start, before any candidate code runs."""

    def __init__(self):
        import time
        import torch
        self.perf_counter = time.perf_counter
        self.sleep = time.sleep
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            self.Event = torch.cuda.Event
            self.synchronize = torch.cuda.synchronize
            self.elapsed_time = torch.cuda.Event.elapsed_time
            self.record = torch.cuda.Event.record
            self.current_stream = torch.cuda.current_stream
            self.gpu_sleep = getattr(torch.cuda, "_sleep", None)


def quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(values):
    """max/min - 1 of positive values, or None."""
    values = [v for v in values if v is not None]
    if not values or min(values) <= 0:
        return None
    return max(values) / min(values) - 1.0


def outlier_rounds(medians, mads=OUTLIER_MADS, floor=OUTLIER_FLOOR):
    """Indices of round medians the discard rule rejects (pure arithmetic, unit-tested)."""
    if len(medians) < 4:
        return []
    center = statistics.median(medians)
    mad = statistics.median([abs(m - center) for m in medians])
    limit = max(mads * 1.4826 * mad, floor * center)
    return [i for i, m in enumerate(medians) if abs(m - center) > limit]


def calls_per_round(est_ms, min_round_ms, min_calls, max_calls=20000, wait_ms=0.0):
    """Calls per round: enough for `min_round_ms` of measured time, at least `min_calls` when
    they fit in a second, never fewer than 3 or more than max_calls; with a wait before each
    call (`spacing`), no more than fit in ROUND_WALL_MAX_MS of wall time."""
    est_ms = max(est_ms, 1e-4)
    by_time = int(math.ceil(min_round_ms / est_ms))
    by_count = min(int(min_calls), int(1000.0 / est_ms))
    n = min(max_calls, max(by_time, by_count))
    if wait_ms > 0:
        n = min(n, int(ROUND_WALL_MAX_MS / (est_ms + wait_ms)))
    return int(max(3, n))


def spacing(host_ms, event_ms, capped, launch_ahead=True, power_gap=None):
    """The GPU-side wait before each call, in ms, and why (pure arithmetic, unit-tested).
    `power_gap`: None applies POWER_GAP under a cap only; a number applies that ratio always."""
    hold, reasons = 0.0, []
    if launch_ahead and host_ms and event_ms and host_ms >= HOST_BOUND * event_ms:
        hold += LAUNCH_AHEAD * host_ms
        reasons.append("launch_ahead")
    ratio = (POWER_GAP if capped else 0.0) if power_gap is None else float(power_gap)
    if ratio > 0 and event_ms:
        hold += ratio * event_ms
        reasons.append("power_gap")
    return min(hold, HOLD_MAX_MS), reasons


def flush_bytes_for(l2_bytes):
    if not l2_bytes:
        return FALLBACK_FLUSH_BYTES
    return int(max(MIN_FLUSH_BYTES, 2 * l2_bytes))


def measure(call, input_sets, timers, device, warmup=10, iterations=50, rounds=1,
            min_round_ms=0.0, control=None, l2=None, clocks=None, l2_bytes=None,
            launch_ahead=True, power_gap=None):
    """Return {rounds_ms, median_ms, ..., gap_ms, outputs}. `outputs[k]` is the last output
    produced from input_sets[k] during timing, for the timed-output check.
    `control`: (call, input_sets) timed in rounds interleaved with this measurement's.
    `launch_ahead`, `power_gap`: see `spacing`."""
    on_cuda = device.startswith("cuda") and timers.cuda
    # A garbage-collection pause inside a timed call is noise, not the candidate's cost.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if not on_cuda:
            return _measure_host(call, input_sets, timers, warmup, iterations, rounds)
        return _measure_cuda(call, input_sets, timers, device, warmup, iterations, rounds,
                             min_round_ms, control, l2, clocks, l2_bytes, launch_ahead,
                             power_gap)
    finally:
        if was_enabled:
            gc.enable()


def _measure_host(call, input_sets, timers, warmup, iterations, rounds):
    count = len(input_sets)
    outputs = [None] * count
    for i in range(warmup):
        outputs[i % count] = call(input_sets[i % count])
    all_ms, medians, index = [], [], 0
    for _ in range(rounds):
        round_ms = []
        for _ in range(iterations):
            k = index % count
            index += 1
            host0 = timers.perf_counter()
            outputs[k] = call(input_sets[k])
            round_ms.append((timers.perf_counter() - host0) * 1e3)
        medians.append(statistics.median(round_ms))
        all_ms.extend(round_ms)
    return _summary("perf_counter", medians, medians, [], all_ms, iterations, outputs,
                    gap_ms=0.0)


class _Runner:
    """One callable with its rotating input sets, timed in CUDA-event rounds."""

    def __init__(self, call, input_sets, timers, flush):
        self.call, self.sets, self.timers, self.flush = call, input_sets, timers, flush
        self.outputs = [None] * len(input_sets)
        self.index = 0
        self.hold_cycles, self.hold_ms = 0, 0.0
        self.host_ms = None  # median host time per call of the last batch
        self.free_est_ms = self.free_host_ms = None  # from the warm-up without any wait

    def batch(self, n, clocks=None):
        t = self.timers
        starts = [t.Event(enable_timing=True) for _ in range(n)]
        ends = [t.Event(enable_timing=True) for _ in range(n)]
        host = []
        count = len(self.sets)
        for i in range(n):
            k = self.index % count
            self.index += 1
            self.flush.zero_()
            if self.hold_cycles:
                t.gpu_sleep(self.hold_cycles)
            t.record(starts[i])
            host0 = t.perf_counter()
            self.outputs[k] = self.call(self.sets[k])
            host.append((t.perf_counter() - host0) * 1e3)
            t.record(ends[i])
        # Sampled while the queued round still runs, so the clock read is a working clock.
        sample = clocks.sample() if clocks is not None else None
        t.synchronize()
        self.host_ms = statistics.median(host)
        return [t.elapsed_time(s, e) for s, e in zip(starts, ends)], sample

    def warm(self, warmup, clocks=None):
        """Warm up until three batch medians agree within WARMUP_STABLE (and, when the clock
        is capped, until the SM clock holds); return (est_ms, calls, ms, stable, capped)."""
        t = self.timers
        t0 = t.perf_counter()
        calls, history, mhz, n = 0, [], [], 3
        capped = False
        while True:
            times, sample = self.batch(n, clocks)
            calls += n
            med = statistics.median(times)
            history.append(med)
            capped = capped or _cap_seen(sample)
            if sample and sample.get("sm_mhz"):
                mhz.append(sample["sm_mhz"])
            elapsed = (t.perf_counter() - t0) * 1e3
            stable = len(history) >= 3 and spread(history[-3:]) <= WARMUP_STABLE
            if capped:
                stable = stable and elapsed >= CAPPED_WARMUP_MIN_MS and len(mhz) >= 3 and \
                    spread(mhz[-3:]) <= CAPPED_CLOCK_STABLE
            limit = CAPPED_WARMUP_MAX_MS if capped else WARMUP_MAX_MS
            if elapsed >= limit or (stable and elapsed >= WARMUP_MIN_MS and calls >= warmup):
                return med, calls, elapsed, stable, capped
            # Next batch: about 30 ms of calls, so each batch median is itself steady.
            n = int(max(3, min(2000, 30.0 / (max(med, 1e-3) + self.hold_ms))))


def _cycles_per_ms(clocks):
    """GPU clock cycles in a millisecond at the chip's highest SM clock, so a wait of N cycles
    lasts at least N / this ms whatever the clock actually is."""
    mhz = clocks.max_sm_mhz() if clocks is not None else None
    return (mhz or FALLBACK_SM_MHZ) * 1e3


def _space(runner, capped, launch_ahead, power_gap, cycles_per_ms, warmup, clocks):
    """Set the runner's spacing from its warm-up without any wait (`free_*`) and, when it waits,
    warm up again with the wait in place. Returns (est_ms, calls, ms, stable, capped, hold_ms,
    reasons): `capped` is whether a cap was still seen with the wait in place (a power gap
    usually lifts it)."""
    hold_ms, reasons = spacing(runner.free_host_ms, runner.free_est_ms, capped, launch_ahead,
                               power_gap)
    if not hold_ms or runner.timers.gpu_sleep is None:
        runner.hold_cycles, runner.hold_ms = 0, 0.0
        return runner.free_est_ms, 0, 0.0, True, capped, 0.0, []
    runner.hold_cycles, runner.hold_ms = int(hold_ms * cycles_per_ms), hold_ms
    est_ms, calls, ms, stable, still_capped = runner.warm(warmup, clocks)
    return est_ms, calls, ms, stable, still_capped, hold_ms, reasons


def _measure_cuda(call, input_sets, timers, device, warmup, iterations, rounds, min_round_ms,
                  control, l2, clocks, l2_bytes, launch_ahead=True, power_gap=None):
    import torch
    flush_bytes = flush_bytes_for(l2_bytes)
    flush = torch.empty(flush_bytes, dtype=torch.int8, device=device)
    cycles_per_ms = _cycles_per_ms(clocks)
    main = _Runner(call, input_sets, timers, flush)
    ctl = _Runner(control[0], control[1], timers, flush) if control is not None else None
    runners = [main] + ([ctl] if ctl is not None else [])
    # Warm-up without any wait. Its host time per call is Python and launches (more only when
    # the launch queue is full or the call synchronises); with a wait in place it would read
    # the GPU's pace instead.
    capped = False
    for runner in runners:
        runner.free_est_ms, calls, ms, ok, cap = runner.warm(warmup, clocks)
        runner.free_host_ms = runner.host_ms
        if runner is main:
            warm_calls, warm_ms, stable = calls, ms, ok
        capped = capped or cap

    def space_all(capped_now):
        """One spacing decision for the candidate and its control from one cap reading: they
        are timed in alternation and must run at the same clock."""
        nonlocal warm_calls, warm_ms, stable
        ests, still, main_hold = [], False, (0.0, [])
        for runner in runners:
            est, calls, ms, ok, cap, hold, why = _space(runner, capped_now, launch_ahead,
                                                        power_gap, cycles_per_ms, warmup, clocks)
            ests.append(est)
            still = still or cap
            if runner is main:
                warm_calls, warm_ms, stable = warm_calls + calls, warm_ms + ms, stable and ok
                main_hold = (hold, why)
        return ests, still, main_hold

    persist = []

    def one_round(runner, calls):
        if l2 is not None:
            l2.reset()
        times, sample = runner.batch(calls, clocks)
        if l2 is not None:
            persist.append(l2.limit_bytes())
        return times, sample

    ests, still_capped, (hold_ms, hold_why) = space_all(capped)
    respaced = False
    while True:
        # Longer rounds only while a cap still moves the clock.
        round_ms = min_round_ms * (CAPPED_ROUND_FACTOR if still_capped else 1.0)
        counts = [calls_per_round(est, round_ms, iterations, wait_ms=r.hold_ms)
                  for r, est in zip(runners, ests)]
        n = counts[0]
        measured = []  # (median, times, clock sample)
        control_medians = []
        # A late cap can still change the spacing: no gap yet, none asked for, not done once.
        may_respace = "power_gap" not in hold_why and power_gap is None and not respaced
        late_cap = False
        for _ in range(rounds):
            times, sample = one_round(main, n)
            measured.append((statistics.median(times), times, sample))
            late_cap = late_cap or _cap_seen(sample)
            if ctl is not None:
                ctimes, csample = one_round(ctl, counts[1])
                control_medians.append(statistics.median(ctimes))
                late_cap = late_cap or _cap_seen(csample)
            if late_cap and may_respace:
                break
        if late_cap and may_respace:
            # A cap the warm-up did not see (the board's power average rises slowly): space
            # the calls as if it had, and measure every round again, once.
            respaced = capped = True
            ests, still_capped, (hold_ms, hold_why) = space_all(True)
            continue
        break
    # The discard rule, then re-measure what it rejected (at most MAX_REPLACED rounds).
    kept = list(range(len(measured)))
    discarded = []
    for _ in range(MAX_REPLACED):
        bad = outlier_rounds([measured[i][0] for i in kept])
        if not bad:
            break
        kept_medians = [measured[i][0] for i in kept]
        center = statistics.median(kept_medians)
        worst = max(bad, key=lambda j: abs(kept_medians[j] - center))
        index = kept.pop(worst)
        discarded.append({"round": index, "median_ms": measured[index][0],
                          "rule": "robust outlier (> %g MAD and > %g%% from the median)" % (
                              OUTLIER_MADS, 100 * OUTLIER_FLOOR)})
        times, sample = one_round(main, n)
        measured.append((statistics.median(times), times, sample))
        kept.append(len(measured) - 1)
    kept_medians = [measured[i][0] for i in kept]
    all_medians = [m[0] for m in measured]
    all_ms = [x for i in kept for x in measured[i][1]]
    # Cross-check pass for checks/unsynced.py: each call alone on an idle device, timed by
    # events and by the host clock up to a full synchronise. Work the call left running on
    # another stream or thread shows up only in the host reading.
    gaps_ms = []
    count = len(input_sets)
    for _ in range(min(20, n)):
        k = main.index % count
        main.index += 1
        flush.zero_()
        start, end = timers.Event(enable_timing=True), timers.Event(enable_timing=True)
        timers.synchronize()
        host0 = timers.perf_counter()
        timers.record(start)
        main.outputs[k] = call(input_sets[k])
        timers.record(end)
        timers.synchronize()
        host_ms = (timers.perf_counter() - host0) * 1e3
        gaps_ms.append(host_ms - timers.elapsed_time(start, end))
    result = _summary("cuda_events", kept_medians, all_medians, discarded, all_ms, n,
                      main.outputs, gap_ms=statistics.median(gaps_ms) if gaps_ms else 0.0)
    samples = [m[2] for m in measured if m[2]]
    result.update({
        "warmup_calls": warm_calls, "warmup_ms": round(warm_ms, 1), "warmup_stable": stable,
        "flush_bytes": flush_bytes, "min_round_ms": round_ms, "clock_capped": capped,
        "round_clocks": samples,
        "clock_capped_spaced": still_capped, "respaced_after_cap": respaced,
        # The spacing used: with a hold, the events time the GPU's work only; `host_ms` is
        # the host's time per call, `unheld_median_ms` the events' median before the hold.
        "host_ms": main.free_host_ms, "hold_ms": hold_ms, "hold_reasons": hold_why,
        "unheld_median_ms": main.free_est_ms if hold_ms else None,
        "persisting_l2_limit_bytes": max([p for p in persist if p is not None], default=None),
    })
    if control_medians:
        result["control_rounds_ms"] = control_medians
        result["control_median_ms"] = statistics.median(control_medians)
        result["control_spread"] = spread(control_medians)
        pairs = [c / m for c, (m, _, _) in zip(control_medians, measured) if m > 0]
        result["paired_ratio"] = statistics.median(pairs) if pairs else None
    del flush
    return result


def _summary(clock, medians, all_medians, discarded, all_ms, iterations, outputs, gap_ms):
    return {
        "clock": clock,
        "rounds_ms": medians,
        "all_rounds_ms": all_medians,
        "discarded_rounds": discarded,
        "median_ms": statistics.median(medians),
        "min_ms": min(all_ms),
        "max_ms": max(all_ms),
        "q20_ms": quantile(all_ms, 0.2),
        "q80_ms": quantile(all_ms, 0.8),
        "spread": spread(medians),
        "spread_all": spread(all_medians),
        "iterations": iterations,
        "gap_ms": gap_ms,
        "outputs": outputs,
    }
