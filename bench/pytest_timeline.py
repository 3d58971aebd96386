"""Where each pytest-xdist worker's time goes: a pytest plugin that writes a per-worker timeline.

    date +%s.%N > /tmp/tl-start
    PYTHONPATH=bench python -m pytest -q -n 2 -p pytest_timeline -p no:cacheprovider
    date +%s.%N > /tmp/tl-end
    python bench/pytest_timeline.py /tmp/tl-start /tmp/tl-end

Each worker writes ``$FORMULAFORGE_TIMELINE_DIR/tl-gwN.txt`` (default ``/tmp``): a line per
test start and end, then the session's end, unconfigure and exit (atexit). The summary says
when each worker started its first test (collection before it), how long it spent in tests,
when its last test ended, and how long it took from there to the process exit. Used for the
suite-time section of docs/benchmarks.md; not part of ``make test``.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path
from typing import TextIO

_out: TextIO | None = None


def _mark(kind: str, what: str = "-") -> None:
    global _out
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    if _out is None:
        folder = Path(os.environ.get("FORMULAFORGE_TIMELINE_DIR", "/tmp"))
        _out = open(folder / f"tl-{worker}.txt", "w", encoding="utf-8")  # noqa: SIM115 - open until exit
    _out.write(f"{kind} {time.time():.3f} {what}\n")
    _out.flush()


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _mark("S", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    _mark("E", nodeid)


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    _mark("SF")


def pytest_unconfigure(config: object) -> None:
    _mark("UC")


atexit.register(lambda: _mark("AX") if _out is not None else None)


def summarize(start: float, end: float, folder: Path) -> None:
    for path in sorted(folder.glob("tl-gw*.txt")):
        rows = [line.split(" ", 2) for line in path.read_text(encoding="utf-8").splitlines()]
        started: dict[str, float] = {}
        busy = 0.0
        for kind, stamp, what in rows:
            if kind == "S":
                started[what] = float(stamp)
            elif kind == "E":
                busy += float(stamp) - started.pop(what)
        starts = [float(s) for k, s, _ in rows if k == "S"]
        ends = [float(s) for k, s, _ in rows if k == "E"]
        print(f"{path.stem[3:]}: {len(ends)} tests; first test at {min(starts) - start:.1f} s, "
              f"{busy:.1f} s in tests, last test ended at {max(ends) - start:.1f} s, "
              f"{end - max(ends):.1f} s from there to the end")
    print(f"total {end - start:.1f} s")


if __name__ == "__main__":
    t0, t1 = (float(Path(p).read_text()) for p in sys.argv[1:3])
    summarize(t0, t1, Path(os.environ.get("FORMULAFORGE_TIMELINE_DIR", "/tmp")))
