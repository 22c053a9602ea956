"""Turns run_all.py summaries into a markdown table: python3 bench/kernels/report.py KERNELS.json
[FIXTURES.json]"""

import json
import sys


def fmt(value, digits=4):
    return "—" if value is None else ("%.*f" % (digits, value))


def spread(r):
    """Spread of the 10 kept round medians; after a slash, of every round measured when the
    discard rule replaced some; a star when the clock was power-capped (longer rounds); L when
    the call was launched ahead, G when calls were spaced by a power gap, R when a cap first seen
    during the rounds had every round measured again with the gap (PROTOCOL.md, Timing)."""
    if not r or r.get("spread_max_over_min") is None:
        return "—"
    text = "%.2f%%" % (100 * (r["spread_max_over_min"] - 1))
    if r.get("discarded_rounds"):
        text += " / %.2f%%" % (100 * (r["spread_all_max_over_min"] - 1))
    marks = ("*" if r.get("clock_capped") else "") + \
        ("L" if "launch_ahead" in (r.get("hold_reasons") or []) else "") + \
        ("G" if "power_gap" in (r.get("hold_reasons") or []) else "") + \
        ("R" if r.get("respaced_after_cap") else "")
    return text + marks


def main(kernels_path, fixtures_path=None):
    s = json.load(open(kernels_path))
    out = ["Device: %s (peaks from the table: %s). Date: %s." % (
        s.get("device"), (s.get("probe") or {}).get("peak", {}).get("chip"), s["date"][:10]), ""]
    out.append("| task | shape | reference ms | baseline ms | SOL ms | candidate | candidate ms | "
               "SOL score | spread ref | spread cand | failed checks | run |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task, cands in s["tasks"].items():
        for cand, res in cands.items():
            for shape, row in res["shapes"].items():
                ref, c, b = row.get("reference", {}), row.get("candidate", {}), row.get("baseline")
                out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    task, shape, fmt(ref.get("median_ms")), fmt((b or {}).get("median_ms")),
                    fmt(c.get("sol_ms")), cand, fmt(c.get("median_ms")), fmt(row.get("score"), 3),
                    spread(ref), spread(c), ", ".join(res["failed_checks"]) or "none",
                    res.get("run", "")))
            out.append("| %s | **task score** | | | | %s | | **%s** | | | | |" % (
                task, cand, fmt(res.get("sol_score"), 3)))
    fixtures = s.get("fixtures") or {}
    if fixtures_path:
        fixtures = dict(json.load(open(fixtures_path)).get("fixtures", {}), **fixtures)
    if fixtures:
        out += ["", "| fixture | must fail | failed checks | as expected |", "|---|---|---|---|"]
        for name, f in fixtures.items():
            out.append("| %s | %s | %s | %s |" % (name, f["expected"],
                                                   ", ".join(f["failed_checks"]) or "none",
                                                   "yes" if f["as_expected"] else "NO"))
    print("\n".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
