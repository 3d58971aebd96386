"""Everything the tabs share: the run, the limits, the model pool, the CAS worker, the session log.

Also the one place where exceptions become page messages: :meth:`AppContext.handle`
turns bad input and timeouts into a short message in the page and anything unexpected
into a one-line error (its traceback goes to the server log, never to the browser).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from formulaforge.app.activity import SessionLog
from formulaforge.app.limits import AppLimits
from formulaforge.app.models import ModelPool
from formulaforge.app.workspace import Workspace
from formulaforge.utils.timeout import CASTimeout, TimeoutWorker

log = logging.getLogger("formulaforge.app")
F = TypeVar("F", bound=Callable[..., Any])
USER_ERRORS = (ValueError, FileNotFoundError, KeyError, CASTimeout, TimeoutError)


_INPUT_ERRORS = {"ValueError", "OTSDecodeError", "NotRepresentable", "Rejected", "ZeroDivisionError"}
"""Exceptions of CAS jobs that mean "bad input": the page shows their message alone."""


class PageError(Exception):
    """Raised by handlers; the server turns it into the page's error message."""


class CASJobs:
    """A long-lived killable worker for computer-algebra jobs on visitor input (one at a time)."""

    def __init__(self, timeout_s: float, startup_s: float = 180.0) -> None:
        self.timeout_s = timeout_s
        self.startup_s = startup_s
        self._worker = TimeoutWorker()
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        from formulaforge.evaluation.answers.verify import warm_up

        with self._lock:
            self._worker.call(warm_up, timeout=self.startup_s)

    def run(self, fn: Callable[..., Any], *args: Any, timeout_s: float | None = None) -> Any:
        from formulaforge.evaluation.answers.verify import warm_up

        with self._lock:
            self._worker.call(warm_up, timeout=self.startup_s)  # a killed worker restarts cold
            try:
                return self._worker.call(fn, *args, timeout=timeout_s or self.timeout_s)
            except CASTimeout:
                raise CASTimeout(f"the computation took longer than {timeout_s or self.timeout_s:g} s "
                                 "and was stopped") from None
            except RuntimeError as exc:  # the job's own exception, as "TypeName: message"
                name, _, message = str(exc).partition(": ")
                if name in _INPUT_ERRORS:
                    raise ValueError(message) from None
                raise ValueError(str(exc)) from None

    def close(self) -> None:
        self._worker.close()


@dataclass
class AppContext:
    workspace: Workspace
    limits: AppLimits = field(default_factory=AppLimits)
    botfip_run: Path | None = None
    """A ``botfip finetune --task funcimg`` run: predicts formulas from function images."""
    synth_run: Path | None = None
    """An MSFT run from ``synth train``: the fine-tuned model of the math-problems tab."""
    pool: ModelPool | None = None
    session: SessionLog = field(default_factory=SessionLog)
    cas: CASJobs | None = None
    _checker: Any = None

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = ModelPool(self.workspace, self.limits.max_loaded_models)
        if self.cas is None:
            self.cas = CASJobs(self.limits.cas_timeout_s)

    @property
    def checker(self) -> Any:
        """The answer checker (its own worker process), started on first use."""
        if self._checker is None:
            from formulaforge.evaluation.answers import AnswerChecker, CheckerConfig

            self._checker = AnswerChecker(CheckerConfig(budget_s=min(5.0, self.limits.cas_timeout_s)))
        return self._checker

    def close(self) -> None:
        if self.cas is not None:
            self.cas.close()
        if self._checker is not None:
            self._checker.close()

    def handle(self, tab: str, action: str) -> Callable[[F], F]:
        """Decorator: log the request; turn any exception into a :class:`PageError` message."""

        def wrap(fn: F) -> F:
            @functools.wraps(fn)
            def inner(*args: Any, _session: str = "", **kwargs: Any) -> Any:
                try:
                    with self.session.record(tab, action, _session) as req:
                        result = fn(*args, request=req, **kwargs)
                    return result
                except PageError:
                    raise
                except USER_ERRORS as exc:
                    raise PageError(_message(exc)) from None
                except Exception as exc:
                    log.exception("%s/%s failed", tab, action)
                    raise PageError(f"{type(exc).__name__}: {_message(exc)}") from None

            return inner  # type: ignore[return-value]

        return wrap


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return (text or type(exc).__name__).splitlines()[0][:500]
