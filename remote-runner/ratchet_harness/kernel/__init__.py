"""`kernel` mode: correctness, cheating checks and timing of a candidate against a reference.

The orchestrator (stdlib only) never imports candidate code; it starts worker processes that do,
reads their results from a private file, and computes the speed-of-light score itself."""
