"""The harness's side of a train run's evaluation contract (remote-runner/PROTOCOL.md, "train"):
the channel the instrumented processes report on, the judgement of what they reported, and the
clean-up of processes that outlive the run."""
