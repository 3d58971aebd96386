"""Hard time limits around computer-algebra calls.

sympy can run for hours on an innocent-looking expression (``simplify``, ``integrate``,
parsing ``10^{10^{10}}``). Two tools, by cost:

* :func:`time_limit` - a ``SIGALRM`` timer, microseconds of overhead, for bulk work in
  the main thread of a process. It interrupts pure-Python code (all of sympy) but not a
  long C call, and does nothing outside the main thread (then it falls back to no limit
  and says so via :func:`alarm_available`).
* :class:`TimeoutWorker` / :func:`call_with_timeout` - runs the call in a separate
  process that is killed when the limit passes. Robust against anything (C loops, memory
  blow-ups); costs a pickle round trip per call. Use it where untrusted text (model
  output) reaches sympy.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class CASTimeout(TimeoutError):
    """A computer-algebra call ran past its time limit."""


def alarm_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


_REFIRE_SECONDS = 0.05


@contextlib.contextmanager
def time_limit(seconds: float, *, cpu: bool = False) -> Iterator[None]:
    """Raise :class:`CASTimeout` inside the block after ``seconds`` (main thread only).

    After the deadline the alarm keeps firing every 50 ms until the block exits: libraries
    that wrap work in ``except Exception`` (latex2sympy, parts of sympy) can swallow one
    ``CASTimeout``, and the next one lands outside such a handler. An enclosing timer
    of the same clock (an outer ``time_limit``, pytest-timeout) keeps its deadline: ours
    never runs past it, and it is re-armed with the time it has left on the way out.
    Outside the main thread the block runs without a limit; callers that need a guarantee
    there use :func:`call_with_timeout`.

    ``cpu=True`` counts this process's CPU time (``ITIMER_PROF``/``SIGPROF``) instead of
    wall time: on a shared machine a wall-clock limit makes *results* depend on the load
    (the same formula converts on an idle machine and times out on a busy one), which
    metrics must not. CPU time does not advance while blocked, so pair it with a generous
    wall-clock ``time_limit`` as the hard stop.
    """
    if seconds is None or seconds <= 0 or not alarm_available():
        yield
        return
    if cpu and hasattr(signal, "ITIMER_PROF"):
        which, signum, clock = signal.ITIMER_PROF, signal.SIGPROF, time.process_time
    else:
        which, signum, clock = signal.ITIMER_REAL, signal.SIGALRM, time.monotonic

    def _raise(signum: int, frame: Any) -> None:
        raise CASTimeout(f"computation exceeded {seconds:g} s" + (" of CPU time" if cpu else ""))

    outer_remaining, outer_interval = signal.getitimer(which)
    if outer_remaining:
        seconds = min(seconds, outer_remaining)
    started = clock()
    previous_handler = signal.signal(signum, _raise)
    signal.setitimer(which, seconds, _REFIRE_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(which, 0)
        signal.signal(signum, previous_handler)
        if outer_remaining:
            left = max(outer_remaining - (clock() - started), 1e-3)
            signal.setitimer(which, left, outer_interval)


def _worker_loop(conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args, kwargs = message
        try:
            result = (True, fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, never lost
            result = (False, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except Exception as exc:  # result not picklable
            conn.send((False, f"unpicklable result: {exc}"))


class TimeoutWorker:
    """One long-lived helper process; a call past its limit kills and replaces it.

    ``fn`` must be importable at module level (it is pickled by reference). Thread-safe:
    calls from several threads are serialized.
    """

    def __init__(self, start_method: str = "spawn") -> None:
        self._ctx = mp.get_context(start_method)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_loop, args=(child,), daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def _kill(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.kill()
                self._proc.join(timeout=5)
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._proc = self._conn = None

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the worker; :class:`CASTimeout` past ``timeout``.

        An exception inside ``fn`` comes back as ``RuntimeError`` with its message.
        """
        with self._lock:
            self._ensure()
            try:
                self._conn.send((fn, args, kwargs))
                ready = self._conn.poll(timeout)
            except (BrokenPipeError, EOFError, OSError):
                self._kill()
                raise RuntimeError("timeout worker died") from None
            if not ready:
                self._kill()
                raise CASTimeout(f"{getattr(fn, '__name__', fn)} exceeded {timeout:g} s")
            try:
                ok, value = self._conn.recv()
            except (EOFError, OSError):
                self._kill()
                raise RuntimeError("timeout worker died while answering (out of memory?)") from None
        if not ok:
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.send(None)
            self._kill()

    def __enter__(self) -> TimeoutWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default_worker: TimeoutWorker | None = None
_default_pid: int | None = None


def call_with_timeout(fn: Callable[..., Any], *args: Any, timeout: float, **kwargs: Any) -> Any:
    """Run ``fn`` in this process's shared :class:`TimeoutWorker` (created on first use)."""
    global _default_worker, _default_pid
    if _default_worker is None or _default_pid != os.getpid():
        _default_worker, _default_pid = TimeoutWorker(), os.getpid()
    return _default_worker.call(fn, *args, timeout=timeout, **kwargs)
