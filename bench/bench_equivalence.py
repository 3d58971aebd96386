"""sym_equiv on the hand-made equivalence table (tests/data/equivalence_pairs.tsv, issue 16).

Prints the table's counts: pairs, read (both sides converted), refused, and per expected
verdict what the metric said: for "different" pairs the false "equivalent" count (must be
0), for "equal" pairs how many were proven. Every pair runs under the metric's own CPU
time limits (formula_aware.SYMPY_TIMEOUT).

    python bench/bench_equivalence.py [--table tests/data/equivalence_pairs.tsv] [--show]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from formulaforge.evaluation.metrics.formula_aware import equivalence_verdict

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "equivalence_pairs.tsv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--show", action="store_true", help="print every pair whose verdict is not the expected one")
    args = ap.parse_args()
    counts: Counter[tuple[str, str]] = Counter()
    w0, c0 = time.perf_counter(), time.process_time()
    for line in args.table.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, pred, ref, note = line.split("\t")
        verdict = equivalence_verdict(pred, ref)
        counts[(expected, verdict)] += 1
        wrong = (expected == "equal") != (verdict == "equivalent")
        if args.show and wrong:
            print(f"  {expected:9} -> {verdict:10} {pred!r} vs {ref!r}  ({note})")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    total = sum(counts.values())
    unread = sum(n for (_, v), n in counts.items() if v == "unread")
    equal_n = sum(n for (e, _), n in counts.items() if e == "equal")
    print(f"pairs {total}: equal {equal_n}, different {total - equal_n}")
    print(f"read {total - unread} ({(total - unread) / total:.1%}), refused {unread} ({unread / total:.1%})")
    print(f"equal pairs: proven {counts[('equal', 'equivalent')]}, said different {counts[('equal', 'different')]}, "
          f"refused {counts[('equal', 'unread')]}")
    print(f"different pairs: rejected {counts[('different', 'different')]}, refused {counts[('different', 'unread')]}, "
          f"FALSE EQUIVALENT {counts[('different', 'equivalent')]}")
    print(f"time: {wall:.2f} s wall, {cpu:.2f} s cpu")


if __name__ == "__main__":
    main()
