"""Fingerprints of protected files (the evaluation, data preparation, the budget) taken before
and after a run, so an edit made by the run itself is caught even if the patch looked clean."""

import hashlib
import os


def _hash_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot(paths, cwd):
    """Map each protected file (folders are walked) to its sha256, or None when it is missing.
    Keys are the paths as given, joined with the file's place under a folder."""
    result = {}
    for given in paths:
        full = given if os.path.isabs(given) else os.path.join(cwd, given)
        if os.path.isdir(full):
            for root, dirs, files in os.walk(full):
                dirs.sort()
                for name in sorted(files):
                    fpath = os.path.join(root, name)
                    key = os.path.join(given, os.path.relpath(fpath, full))
                    result[key] = _hash_file(fpath)
            result.setdefault(given.rstrip("/") + "/", "folder")
        elif os.path.isfile(full):
            result[given] = _hash_file(full)
        else:
            result[given] = None
    return result


def compare(before, after):
    """Return {changed, removed, added}: each a sorted list of paths."""
    changed = sorted(k for k in before if k in after and before[k] != after[k]
                     and before[k] is not None and after[k] is not None)
    removed = sorted(k for k in before if before[k] is not None and after.get(k) is None)
    added = sorted(k for k in after if after[k] is not None and before.get(k) is None)
    return {"changed": changed, "removed": removed, "added": added}


def audit(emitter, before, after):
    """Emit the `protected_files` audit for two snapshots; True when the run changed any."""
    diff = compare(before, after)
    touched = diff["changed"] + diff["removed"] + diff["added"]
    missing = sorted(k for k, v in before.items() if v is None and after.get(k) is None)
    if touched:
        emitter.audit("protected_files", "fail",
                      "the run changed protected files: " + ", ".join(touched),
                      evidence={"before": before, "after": after, **diff})
    elif missing:
        emitter.audit("protected_files", "warn",
                      "protected paths do not exist, so nothing guards them: "
                      + ", ".join(missing), evidence={"missing": missing, "sha256": before})
    else:
        emitter.audit("protected_files", "pass",
                      "%d protected files unchanged" % len(before),
                      evidence={"sha256": before})
    return bool(touched)
