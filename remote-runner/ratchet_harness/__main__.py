"""Command line: python3 -m ratchet_harness <probe|train|kernel> [options] [-- command]."""

import argparse
import sys

from .protocol import Emitter


def _parser():
    parser = argparse.ArgumentParser(prog="python3 -m ratchet_harness",
                                     description="Run one experiment and report JSON lines.")
    sub = parser.add_subparsers(dest="mode", required=True)

    def common(p):
        p.add_argument("--experiment-id", required=True)

    probe = sub.add_parser("probe", help="describe this host's GPUs and their peak figures")
    common(probe)

    train = sub.add_parser("train", help="run a training command under a budget")
    common(train)
    train.add_argument("--budget-seconds", type=float, required=True,
                       help="wall-clock limit; the process group is stopped when it passes")
    train.add_argument("--cwd", default=".")
    train.add_argument("--protect", nargs="*", default=[],
                       help="files or folders (relative to --cwd) the run must not change")
    train.add_argument("--seed", type=int, default=None, help="passed as RATCHET_SEED")
    train.add_argument("--gpu", default=None, help="value for CUDA_VISIBLE_DEVICES")
    train.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    train.add_argument("--max-log-bytes", type=int, default=16 * 1024 * 1024)
    train.add_argument("--kill-grace-seconds", type=float, default=5.0)
    train.add_argument("--run-root", default=None,
                       help="the run's own folder (default --cwd): writes elsewhere are reported")
    train.add_argument("--metric", default=None,
                       help="the metric's name: the evaluator's value is reported under it and "
                       "compared with the printed one")
    train.add_argument("--evaluate", default=None, metavar="PATH:FUNCTION",
                       help="the protected evaluation function (PATH relative to --cwd): its return "
                       "value is the metric")
    train.add_argument("--training-budget-seconds", type=float, default=None,
                       help="training the task promises before evaluating, by the harness's clock")
    train.add_argument("--training-allowance-seconds", type=float, default=None,
                       help="allowed past the training budget (default max(10, budget/4))")
    train.add_argument("--evaluation-only", action="append", default=[], metavar="PATH",
                       help="a file or folder (relative to --cwd) only the evaluator may read")
    train.add_argument("--probe", action="append", default=[], choices=["causal-lm"],
                       help="require a probe (default: each probe runs where it applies)")
    train.add_argument("--no-probes", action="store_true", help="run no model probe")
    train.add_argument("--guard-function", default=None, metavar="PATH:FUNCTION",
                       help="a function outside the run's folder, called with the evaluator's "
                       "arguments after it: the guard metric")
    train.add_argument("--guard-command", default=None,
                       help="a command run after training in --cwd; its output names the guard metric")
    train.add_argument("--guard-metric", default=None)
    train.add_argument("--guard-timeout-seconds", type=float, default=600.0)
    train.add_argument("--no-instrument", action="store_true",
                       help="run without the in-run instrumentation (metric self-reported)")
    train.add_argument("--disable-check", action="append", default=[],
                       help="switch one check off (for testing the checks themselves)")
    train.add_argument("--scrub-env", action="append", default=[], metavar="NAME",
                       help="an environment variable the run must not see")

    kernel = sub.add_parser("kernel", help="check and time a kernel candidate")
    common(kernel)
    kernel.add_argument("--task", help="task folder with task.json and reference.py")
    kernel.add_argument("--reference", help="KernelBench reference file (instead of --task)")
    kernel.add_argument("--spec", help="task.json to use with --reference")
    kernel.add_argument("--problem", help="SOL-ExecBench problem folder (definition.json, "
                        "workload.jsonl)")
    kernel.add_argument("--candidate", help="file defining ModelNew (or, with --problem, "
                        "a solution.json)")
    kernel.add_argument("--device", default=None, help="cuda (default when present) or cpu")
    kernel.add_argument("--gpu", default=None, help="value for CUDA_VISIBLE_DEVICES")
    kernel.add_argument("--trials", type=int, default=None, help="correctness trials per shape")
    kernel.add_argument("--repeats", type=int, default=1,
                        help="timing rounds per shape (each a median); spread is max/min")
    kernel.add_argument("--iterations", type=int, default=None,
                        help="timed calls per round (GPU: at least this many when they fit "
                        "in a second; --min-round-ms may ask for more)")
    kernel.add_argument("--warmup", type=int, default=None)
    kernel.add_argument("--skip-timing", action="store_true",
                        help="run the correctness and cheating checks only")
    kernel.add_argument("--shapes", default=None,
                        help="comma-separated shape names to use (default: all)")
    kernel.add_argument("--peak-from", default=None,
                        help="device name whose table peaks to use (default: this GPU's)")
    kernel.add_argument("--lock-clocks", action="store_true",
                        help="opt-in, own hosts only: lock SM clocks to base for the run")
    kernel.add_argument("--worker-timeout", type=float, default=900.0)
    kernel.add_argument("--seed", type=int, default=0,
                        help="varies the random inputs of the correctness trials and timed sets "
                        "(the engine passes each run's seed, so repeats see fresh inputs)")
    kernel.add_argument("--budget-seconds", type=float, default=None,
                        help="wall-clock limit of the whole run (both workers); a worker "
                        "still running when it passes is stopped and the run ends `timeout`")
    kernel.add_argument("--cwd", default=".", help="folder --protect paths are relative to")
    kernel.add_argument("--protect", nargs="*", default=[],
                        help="files or folders (relative to --cwd) the candidate must not "
                        "change: hashed before the workers start and after they end")
    kernel.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the workers")
    kernel.add_argument("--scrub-env", action="append", default=[], metavar="NAME",
                        help="an environment variable the workers must not see")
    kernel.add_argument("--min-round-ms", type=float, default=100.0,
                        help="GPU: calls per round are enough for this much measured time")
    kernel.add_argument("--no-interleave", action="store_true",
                        help="GPU: do not time reference control rounds between the "
                        "candidate's rounds")
    kernel.add_argument("--no-launch-ahead", action="store_true",
                        help="GPU: time host-bound calls without holding them behind a GPU-side "
                        "wait (their events then include the host's launch time and jitter)")
    kernel.add_argument("--power-gap", type=float, default=None, metavar="RATIO",
                        help="GPU: idle after each timed call for RATIO times its GPU time "
                        "(default: 1 when NVML reports a power or thermal cap, else 0)")
    kernel.add_argument("--baseline", default=None,
                        help="file defining ModelNew used as the scoring baseline (S = 0.5); "
                        "default: the task's `baseline`, else the reference")
    kernel.add_argument("--no-baseline", action="store_true",
                        help="score against the reference even when the task has a baseline")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` is the command, kept verbatim for the shell.
    command_words = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command_words = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    emitter = Emitter(args.experiment_id)
    if args.mode == "probe":
        from . import probe
        return probe.run(args, emitter)
    if args.mode == "train":
        if not command_words:
            print("train needs a command after --", file=sys.stderr)
            return 2
        args.command = " ".join(command_words)
        from . import train
        return train.run(args, emitter)
    if args.mode == "kernel":
        from .kernel import orchestrate
        return orchestrate.run(args, emitter)
    return 2


if __name__ == "__main__":
    sys.exit(main())
