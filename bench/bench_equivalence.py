"""sym_equiv on the hand-made equivalence table (tests/data/equivalence_pairs.tsv, issue 16).

Prints the table's counts: pairs, read (both sides converted), refused, and per expected
verdict what the metric said: for "different" pairs the false "equivalent" count (must be
0), for "equal" pairs how many were proven. Every pair runs under the metric's own CPU
time limits (formula_aware.SYMPY_TIMEOUT).

    python bench/bench_equivalence.py [--table tests/data/equivalence_pairs.tsv] [--show] [--math-verify]

``--math-verify`` also asks math-verify (a checker we did not write: ``parse`` both sides as
``$...$`` LaTeX, ``verify(gold=reference, target=prediction)``) about every pair and prints
the same counts for it, as the comparison the table is judged against.
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
    ap.add_argument("--math-verify", action="store_true", help="the same table through math-verify, side by side")
    args = ap.parse_args()
    mv_counts: Counter[tuple[str, str]] = Counter()
    counts: Counter[tuple[str, str]] = Counter()
    w0, c0 = time.perf_counter(), time.process_time()
    for line in args.table.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, pred, ref, note = line.split("\t")
        verdict = equivalence_verdict(pred, ref)
        counts[(expected, verdict)] += 1
        if args.math_verify:
            mv = math_verify_verdict(pred, ref)
            mv_counts[(expected, mv)] += 1
            if args.show and expected == "different" and mv == "equivalent":
                print(f"  math-verify false equivalent: {pred!r} vs {ref!r}  ({note})")
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
    print(f"time: {wall:.2f} s wall, {cpu:.2f} s cpu (math-verify included when asked)")
    if args.math_verify:
        print(f"math-verify: equal pairs proven {mv_counts[('equal', 'equivalent')]}/{equal_n}, different pairs "
              f"FALSE EQUIVALENT {mv_counts[('different', 'equivalent')]}/{total - equal_n}, "
              f"unparsed {sum(n for (_, v), n in mv_counts.items() if v == 'unread')}")


def math_verify_verdict(prediction: str, reference: str) -> str:
    """math-verify's verdict on one pair: "equivalent", "different" or "unread" (a side it cannot parse)."""
    from math_verify import parse, verify
    from math_verify.parser import LatexExtractionConfig

    config = [LatexExtractionConfig()]
    gold = parse(f"${reference}$", extraction_config=config)
    target = parse(f"${prediction}$", extraction_config=config)
    if not gold or not target:
        return "unread"
    return "equivalent" if verify(gold, target) else "different"


if __name__ == "__main__":
    main()
