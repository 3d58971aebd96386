"""sym_equiv against a hand-made table (tests/data/equivalence_pairs.tsv, issue 16): never a false "equivalent"."""

from __future__ import annotations

from pathlib import Path

from formulaforge.evaluation.metrics.formula_aware import equivalence_verdict

TABLE = Path(__file__).parent / "data" / "equivalence_pairs.tsv"


def load_table(path: Path = TABLE) -> list[tuple[str, str, str, str]]:
    """(expected, prediction, reference, note) rows; expected is "equal" or "different"."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, pred, ref, note = line.split("\t")
        assert expected in ("equal", "different"), line
        rows.append((expected, pred, ref, note))
    return rows


def test_table_is_large_and_balanced() -> None:
    rows = load_table()
    assert len(rows) >= 80
    assert sum(r[0] == "different" for r in rows) >= 40 and sum(r[0] == "equal" for r in rows) >= 40


def test_no_false_equivalent_and_known_misses_only() -> None:
    rows = load_table()
    verdicts = [equivalence_verdict(pred, ref) for _, pred, ref, _ in rows]
    false_equivalent = [r for r, v in zip(rows, verdicts) if r[0] == "different" and v == "equivalent"]
    unexpected_miss = [
        r for r, v in zip(rows, verdicts) if r[0] == "equal" and v != "equivalent" and not r[3].startswith("not proven")
    ]
    read = sum(v != "unread" for v in verdicts)
    print(f"\nequivalence table: {len(rows)} pairs, read {read} ({read / len(rows):.0%}), "
          f"refused {len(rows) - read}, false equivalent {len(false_equivalent)}")
    assert false_equivalent == []
    assert unexpected_miss == []
