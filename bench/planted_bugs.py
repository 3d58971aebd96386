"""Re-plant the bugs of issue 22's mutation probe and check that the suite catches each one.

Each bug is a one-line change to the source (``old`` -> ``new``) and the tests that must fail
with it. The script copies ``src/`` and ``tests/`` to a scratch folder; for each bug it runs the
tests unplanted (they must pass), plants the bug, runs them again, and reports caught / MISSED /
stale (the line no longer exists: the code moved on, update the entry). Exit 1 unless all caught.

    python bench/planted_bugs.py            # all of them (a few minutes on 2 cores)
    python bench/planted_bugs.py --list

Why a script: "a test for this bug exists" is only true while the test still fails on the bug;
re-planting is the check, and it needs nothing but the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    name: str
    file: str  # under src/formulaforge
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = [
    Bug("context start: the first formula's context starts at the document start (preamble leaks)",
        "datasets/extract.py", "    else:\n        start = prev_end\n", "    else:\n        start = 0\n",
        ("tests/test_contexts_clean.py::test_preamble_never_leaks_into_the_first_context",)),
    Bug("gate with beams: the router's row mask uses repeat instead of repeat_interleave",
        "models/msft/layer.py", "g = g.repeat_interleave(rows // g.shape[0])", "g = g.repeat(rows // g.shape[0])",
        ("tests/test_msft_equations.py",)),
    Bug("answer extraction: the first number instead of the last",
        "evaluation/answers/extract.py", "for m in reversed(list(_NUMBER_RUN.finditer(text))):",
        "for m in list(_NUMBER_RUN.finditer(text)):",
        ("tests/test_answer_cases.py::test_last_number_is_the_last_and_whole",)),
    Bug("split hashing: Python's salted hash() instead of the stable hash",
        "datasets/splits.py", 'return hash64("split", str(seed), doc_id) / 2**64',
        'return (hash(("split", seed, doc_id)) % 2**64) / 2**64',
        ("tests/test_splits_stable.py",)),
    Bug("BLEU: predictions and references swapped (brevity penalty on the wrong side)",
        "evaluation/metrics/standard.py",
        "return float(_PLAIN_BLEU.corpus_score(list(predictions), [list(references)]).score)",
        "return float(_PLAIN_BLEU.corpus_score(list(references), [list(predictions)]).score)",
        ("tests/test_eval_metrics.py::test_bleu_matches_independent_implementation_on_random_corpora",
         "tests/test_eval_metrics.py::test_bleu_matches_nltk_corpus_bleu")),
]


def _pytest(scratch: Path, tests: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(scratch / "src"))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                          cwd=scratch, env=env, capture_output=True, text=True, check=False).returncode


def check(bug: Bug, scratch: Path) -> tuple[str, float]:
    target = scratch / "src" / "formulaforge" / bug.file
    original = (REPO / "src" / "formulaforge" / bug.file).read_text()
    if original.count(bug.old) != 1:
        return "stale", 0.0
    tests = [t for t in bug.tests if (REPO / t.split("::")[0]).is_file()]
    if not tests:
        return "stale", 0.0
    t0 = time.perf_counter()
    if _pytest(scratch, tests) != 0:  # the control: without the bug the same tests must pass
        return "error (tests fail without the bug)", time.perf_counter() - t0
    target.write_text(original.replace(bug.old, bug.new))
    try:
        returncode = _pytest(scratch, tests)
    finally:
        target.write_text(original)
    # exit 1: tests failed (caught); 0: passed with the bug (missed); anything else: the run broke
    status = {1: "caught", 0: "MISSED"}.get(returncode, f"error (pytest exit {returncode})")
    return status, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for b in BUGS:
            print(f"- {b.name}\n  {b.file}: {b.old!r} -> {b.new!r}\n  caught by {', '.join(b.tests)}")
        return
    bad = 0
    with tempfile.TemporaryDirectory(prefix="ff-planted-") as tmp:
        scratch = Path(tmp)
        for sub in ("src", "tests"):
            shutil.copytree(REPO / sub, scratch / sub, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(REPO / "pyproject.toml", scratch / "pyproject.toml")
        for bug in BUGS:
            status, seconds = check(bug, scratch)
            bad += status != "caught"
            print(f"{status:8s} {seconds:6.1f}s  {bug.name}", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
