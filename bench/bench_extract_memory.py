"""Peak memory of extracting one large LaTeX document (issue 17, item 4b).

Writes a synthetic document of SIZE MiB (paragraphs of prose with inline math, display
formulas, short lines, a few sectioning commands; the shape of a real paper, repeated), then
runs ``process_document`` on it in a fresh child process and reports the child's peak RSS
above its baseline after imports, per input byte, with the CPU time.

    nice -n 5 env PYTHONPATH=src .venv/bin/python bench/bench_extract_memory.py [--size 15] [--sizes 4,15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from formulaforge.datasets.builder import process_document
from formulaforge.datasets.extract import Settings
from formulaforge.sources.latex_docs import LatexDocSpec
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.process_time()
res = process_document(LatexDocSpec("big", "s", "tree", sys.argv[1], "main.tex"), Settings(), None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"baseline": base, "peak": peak, "cpu": time.process_time() - t,
                  "triplets": len(res.triplets), "skipped": res.skipped}))
"""


SHAPES = {
    "dollars": "$",  # one line of '$': every '$$' is an (empty) display
    "short-lines": "x\n",  # a line per character
    "blank-lines": "x\n\n",  # a paragraph break every three characters
}


def write_hostile(folder: Path, mib: float, shape: str) -> int:
    unit = SHAPES[shape]
    body = unit * (int(mib * 1024 * 1024) // len(unit))
    text = "\\documentclass{article}\n\\begin{document}\n\nHello.\n\n" + body + "\n\nBye.\n\\end{document}\n"
    (folder / "main.tex").write_text(text)
    return len(text.encode())


def write_document(folder: Path, mib: float) -> int:
    para = (
        "We consider a sequence $x_n$ in a metric space $(X, d)$ and a map $f\\colon X \\to X$ such that\n"
        "the distance $d(f(x), f(y))$ is at most $\\lambda d(x, y)$ for all $x, y \\in X$.\n"
        "Then by induction\n"
        "\\begin{equation}\\label{eq:%d}\n  d(x_{n+1}, x_n) \\leq \\lambda^n d(x_1, x_0) + %d\n\\end{equation}\n"
        "and the sequence is Cauchy, see Lemma~\\ref{lem:%d}.\n"
        "Short\nlines\nare\ncommon\ntoo.\n\n"
    )
    target = int(mib * 1024 * 1024)
    parts = ["\\documentclass{article}\n\\newcommand{\\R}{\\mathbb{R}}\n\\begin{document}\n"]
    size = len(parts[0])
    k = 0
    while size < target:
        chunk = (f"\\section{{Part {k}}}\n" if k % 50 == 0 else "") + para % (k, k, k)
        parts.append(chunk)
        size += len(chunk)
        k += 1
    parts.append("\\end{document}\n")
    text = "".join(parts)
    (folder / "main.tex").write_text(text)
    return len(text.encode())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,15", help="document sizes in MiB, comma-separated")
    ap.add_argument("--shape", default="paper", choices=["paper", *SHAPES], help="document shape")
    args = ap.parse_args()
    for mib in (float(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            if args.shape == "paper":
                n = write_document(Path(tmp), mib)
            else:
                n = write_hostile(Path(tmp), mib, args.shape)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, tmp], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            grown = r["peak"] - r["baseline"]
            print(
                f"{args.shape} {mib:g} MiB ({n} bytes): peak RSS {r['peak'] / 2**20:.0f} MiB, {grown / 2**20:.0f} MiB above "
                f"baseline = {grown / n:.1f} bytes per input byte; CPU {r['cpu']:.1f} s; "
                f"{r['triplets']} triplets; skipped: {r['skipped']}"
            )


if __name__ == "__main__":
    main()
