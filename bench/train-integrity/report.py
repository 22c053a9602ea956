"""Reads a search's journal over the GPT task and prints, per replayed patch: the check meant to
catch it, the verdict, and every check that did (the harness's own checks and the static audit
apart), so a reader sees which line of defence caught what.

    python3 bench/train-integrity/report.py OUT_DIR
"""

import glob
import json
import os
import sys

# Findings of the harness inside the run (remote-runner/PROTOCOL.md, "train") and of the engine's
# cross-run rules; everything else is the static audit of the patch.
DYNAMIC = {"printed_metric", "evaluator", "evaluator_integrity", "training_budget", "causality",
           "protected_access", "outside_writes", "processes", "leftover_processes", "channel",
           "protected-file-changed", "guard-does-not-follow", "trained-longer-than-baseline"}


def main():
    out = sys.argv[1]
    expected = json.load(open(os.path.join(out, "expected.json")))
    journal = glob.glob(os.path.join(out, "repo", ".ratchet", "searches", "*", "journal.jsonl"))[0]
    experiments = {}
    for line in open(journal):
        record = json.loads(line)
        if record["type"] == "experiment":
            experiments[record["experiment"]["id"]] = record["experiment"]
    caught = total = honest_ok = honest = 0
    print("| patch | meant to be caught by | verdict | val_bpb (evaluator) | guard | harness checks that failed | static audit |")
    print("|---|---|---|---|---|---|---|")
    for e in sorted(experiments.values(), key=lambda x: int(x["id"][1:])):
        if e["id"] == "e0":
            runs = e["runs"]
            print("| baseline | — | %s | %s | %s | | |" % (
                e["verdict"]["kind"], ", ".join("%.4f" % r["value"] for r in runs),
                ", ".join("%.4f" % r["guard"] for r in runs if r.get("guard") is not None)))
            continue
        target = expected.get(e["hypothesis"], "?")
        hacks = [a for a in e["audit"] if a["severity"] == "hack"]
        dynamic = sorted({a["check"] for a in hacks if a["check"] in DYNAMIC})
        static = sorted({a["check"] for a in hacks if a["check"] not in DYNAMIC})
        values = ", ".join("%.4f" % r["value"] for r in e["runs"] if r.get("value") is not None) or "—"
        guards = ", ".join("%.4f" % r["guard"] for r in e["runs"] if r.get("guard") is not None) or "—"
        if target is None:
            honest += 1
            honest_ok += int(not hacks and e["verdict"]["kind"] in ("kept", "discarded"))
        else:
            total += 1
            caught += int(target in dynamic)
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            e["hypothesis"], target or "(honest)", e["verdict"]["kind"], values, guards,
            ", ".join(dynamic) or "—", ", ".join(static) or "—"))
    print()
    print("cheats caught by the harness check meant for them: %d / %d; honest patches with no finding: %d / %d" % (
        caught, total, honest_ok, honest))


if __name__ == "__main__":
    main()
