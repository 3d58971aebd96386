"""Issue 16, part 4: the answer checker against its case table and against math-verify.

Runs every case of ``tests/answer_cases.py`` (gold, model output, expected verdict) through
FormulaForge's checker (extraction, then ``verify.check_item`` in this process) and through
math-verify end to end (``verify(parse(gold), parse(output))``), and prints, per answer
type and in total: cases, false accepts and false rejects of each, agreement with
math-verify on the in-scope cases, and the deliberate differences.

    python bench/bench_answer_checker.py
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from answer_cases import cases, math_verify_verdict, our_verdict


def main() -> None:
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    w0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for case in cases():
        ours, _, _ = our_verdict(case)
        mv = math_verify_verdict(case)
        r = rows[case.kind]
        r[0] += 1
        r[1] += ours and not case.expected
        r[2] += case.expected and not ours
        r[3] += mv and not case.expected
        r[4] += case.expected and not mv
        r[5] += (not case.difference) and ours == mv
        r[6] += bool(case.difference)
    print(f"load {os.getloadavg()[0]:.2f}")
    print("| answer type | cases | ours: false accepts | ours: false rejects | math-verify: false accepts | "
          "math-verify: false rejects | agree with math-verify (in scope) | deliberate differences |")
    print("|---|---|---|---|---|---|---|---|")
    total = [0] * 7
    for kind in sorted(rows):
        r = rows[kind]
        total = [a + b for a, b in zip(total, r)]
        print(f"| {kind} | {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]}/{r[0] - r[6]} | {r[6]} |")
    t = total
    print(f"| **all** | {t[0]} | {t[1]} | {t[2]} | {t[3]} | {t[4]} | {t[5]}/{t[0] - t[6]} | {t[6]} |")
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    print(f"\n{time.perf_counter() - w0:.1f} s wall, {cpu:.1f} s cpu")


if __name__ == "__main__":
    main()
