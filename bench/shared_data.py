"""Where the benchmarks find ``../shared/data/latex`` (the product never needs it).

Looked for in ``$FORMULAFORGE_SHARED/data/latex``, then beside the checkout, then at ``/work/shared``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def shared_latex_dir() -> Path | None:
    """The shared LaTeX folder, or None when it is not there."""
    env = os.environ.get("FORMULAFORGE_SHARED")
    repo = Path(__file__).resolve().parents[1]
    for cand in ([Path(env)] if env else []) + [repo.parent / "shared", Path("/work/shared")]:
        if (cand / "data" / "latex").is_dir():
            return cand / "data" / "latex"
    return None


def shared_latex_or_exit(skip: bool = False) -> Path:
    """The shared LaTeX folder; without it, exit with an error (or, with ``skip``, say so and exit 0)."""
    root = shared_latex_dir()
    if root is None:
        if skip:
            print("skipped: no shared LaTeX data found (set FORMULAFORGE_SHARED or pass the folder)")
            sys.exit(0)
        sys.exit("shared LaTeX data not found; set FORMULAFORGE_SHARED")
    return root
