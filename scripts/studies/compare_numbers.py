"""Compare two JSON files value by value: every number, string and key, as a rerun check of committed results.

    python scripts/studies/compare_numbers.py <committed.json> <rerun.json> [--subset] [--tolerance 1e-9] [--ignore KEY ...]

Walks both documents together and prints each leaf whose numbers differ by more than the tolerance (absolute),
each string or key that differs, and a summary line: leaves compared, how many differ, the largest difference.
Keys given with --ignore (e.g. timings: seconds) are skipped wherever they occur; with --subset only the keys the
rerun has are compared (a rerun that recomputes part of a file, e.g. reevaluate_benchmark.py). Exit status 1 when anything
differs, so a script can tell.
"""
from __future__ import annotations

import json
import math
import sys


def differences(a, b, path: str, ignore: set[str], tolerance: float, out: list, counter: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key in ignore:
                continue
            if key not in a or key not in b:
                out.append((f"{path}/{key}", "only in " + ("rerun" if key not in a else "committed"), math.inf))
                continue
            differences(a[key], b[key], f"{path}/{key}", ignore, tolerance, out, counter)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((path, f"length {len(a)} != {len(b)}", math.inf))
        for i, (x, y) in enumerate(zip(a, b)):
            differences(x, y, f"{path}[{i}]", ignore, tolerance, out, counter)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        counter[0] += 1
        if math.isnan(a) and math.isnan(b):
            return
        gap = abs(a - b)
        if not gap <= tolerance:
            out.append((path, f"{a!r} != {b!r}", gap))
    else:
        counter[0] += 1
        if a != b:
            out.append((path, f"{a!r} != {b!r}", math.inf))


def restricted(committed, rerun):
    """`committed` with only the keys `rerun` has, at every level."""
    if isinstance(committed, dict) and isinstance(rerun, dict):
        return {k: restricted(committed[k], rerun[k]) for k in rerun if k in committed}
    return committed


def main(argv: list[str]) -> int:
    files = argv[:2]
    ignore = set(argv[argv.index("--ignore") + 1:]) if "--ignore" in argv else set()
    tolerance = float(argv[argv.index("--tolerance") + 1]) if "--tolerance" in argv else 1e-9
    committed, rerun = (json.load(open(f)) for f in files)
    if "--subset" in argv:
        committed = restricted(committed, rerun)
    out, counter = [], [0]
    differences(committed, rerun, "", ignore, tolerance, out, counter)
    for path, what, _ in out[:50]:
        print(f"{path}: {what}")
    largest = max((gap for *_, gap in out), default=0.0)
    print(f"{files[0]} vs {files[1]}: {counter[0]} leaves compared, {len(out)} differ"
          + (f", largest difference {largest:.3g}" if out else "") + (f" (ignored keys: {sorted(ignore)})" if ignore else ""))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
