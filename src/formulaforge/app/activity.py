"""What happened in this app session: one row per request, for the "Run" tab and the server log.

Kept in memory (bounded) and mirrored to the Python logger; nothing here is a secret, but
inputs are not stored, only their size.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("formulaforge.app")

COLUMNS = ["time", "tab", "action", "status", "seconds", "tokens", "tokens/s", "detail"]


@dataclass
class Request:
    tab: str
    action: str
    started: float = field(default_factory=time.time)
    status: str = "ok"
    seconds: float = 0.0
    tokens: int = 0
    detail: str = ""
    session: str = ""  # the browser session (Gradio's session hash) that sent it

    def row(self) -> list[Any]:
        tps = f"{self.tokens / self.seconds:,.1f}" if self.tokens and self.seconds > 0 else ""
        return [time.strftime("%H:%M:%S", time.localtime(self.started)), self.tab, self.action, self.status,
                f"{self.seconds:,.2f}", f"{self.tokens:,}" if self.tokens else "", tps, self.detail[:200]]


class SessionLog:
    def __init__(self, capacity: int = 1000) -> None:
        self._rows: deque[Request] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def record(self, tab: str, action: str, session: str = "") -> Iterator[Request]:
        """Time the block; an exception marks the row as an error (and propagates)."""
        req = Request(tab, action, session=session)
        t0 = time.perf_counter()
        try:
            yield req
        except Exception as exc:
            req.status = "error"
            req.detail = req.detail or str(exc)
            raise
        finally:
            req.seconds = time.perf_counter() - t0
            with self._lock:
                self._rows.append(req)
            log.info("%s/%s %s in %.3f s %s", tab, action, req.status, req.seconds, req.detail[:120])

    def _of(self, session: str | None) -> list[Request]:
        with self._lock:
            return [r for r in self._rows if session is None or r.session == session]

    def rows(self, session: str | None = None) -> list[list[Any]]:
        """Newest first; ``session`` keeps only that browser session's requests (None: all)."""
        return [r.row() for r in reversed(self._of(session))]

    def summary(self, session: str | None = None) -> dict[str, Any]:
        reqs = self._of(session)
        done = [r.seconds for r in reqs if r.status == "ok"]
        gen = [r for r in reqs if r.tokens and r.status == "ok"]
        return {
            "requests": len(reqs),
            "errors": sum(r.status != "ok" for r in reqs),
            "median_s": round(statistics.median(done), 3) if done else None,
            "tokens": sum(r.tokens for r in gen),
            "tokens_per_s": round(sum(r.tokens for r in gen) / sum(r.seconds for r in gen), 1) if gen else None,
        }
