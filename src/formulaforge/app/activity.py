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

    def row(self) -> list[Any]:
        tps = round(self.tokens / self.seconds, 1) if self.tokens and self.seconds > 0 else ""
        return [time.strftime("%H:%M:%S", time.localtime(self.started)), self.tab, self.action, self.status,
                round(self.seconds, 3), self.tokens or "", tps, self.detail[:200]]


class SessionLog:
    def __init__(self, capacity: int = 1000) -> None:
        self._rows: deque[Request] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def record(self, tab: str, action: str) -> Iterator[Request]:
        """Time the block; an exception marks the row as an error (and propagates)."""
        req = Request(tab, action)
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

    def rows(self) -> list[list[Any]]:
        with self._lock:
            return [r.row() for r in reversed(self._rows)]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            reqs = list(self._rows)
        done = [r.seconds for r in reqs if r.status == "ok"]
        gen = [r for r in reqs if r.tokens and r.status == "ok"]
        return {
            "requests": len(reqs),
            "errors": sum(r.status != "ok" for r in reqs),
            "median_s": round(statistics.median(done), 3) if done else None,
            "tokens": sum(r.tokens for r in gen),
            "tokens_per_s": round(sum(r.tokens for r in gen) / sum(r.seconds for r in gen), 1) if gen else None,
        }
