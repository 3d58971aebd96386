"""LaTeX -> sympy for elementary formulas, under a hard time limit.

The reading itself is :func:`formulaforge.formula.sympy_reader.read_sympy` (why our own
reader and not latex2sympy: see that module) on the normalized tokens, so layout
(``\\left``, ``\\,``, ``\\label``, a final full stop, alignment ``&``) never matters and
spelling variants (``\\dfrac``/``\\frac``, ``x^{2}``/``x^2``) read the same. sympy itself
evaluates as it builds (powers, factorials), so every call runs under a limit from
:mod:`formulaforge.utils.timeout`:

* in the main thread, a ``SIGALRM`` timer (microseconds of overhead, fine for bulk work)
  that keeps firing after the deadline (:func:`formulaforge.utils.timeout.time_limit`);
* elsewhere, or with ``isolate=True`` (untrusted model output), a kill-able worker process.

Anything that fails, times out, or is not elementary math (text, environments, several
rows, sets, ...) gives ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from formulaforge.formula.normalize import normalize_tokens
from formulaforge.formula.sympy_reader import read_sympy
from formulaforge.utils.timeout import CASTimeout, alarm_available, call_with_timeout, time_limit

DEFAULT_TIMEOUT = 2.0


def sympy_tokens(latex: str) -> tuple[str, ...]:
    """What :func:`to_sympy` reads of ``latex``: its normalized tokens without alignment ``&``.

    Two formulas with the same ``sympy_tokens`` convert to the same object, so this is the
    key of conversion caches.
    """
    return reading_tokens(normalize_tokens(latex))


def reading_tokens(normalized: Iterable[str]) -> tuple[str, ...]:
    """:func:`sympy_tokens` for tokens already normalized (callers that cache normalization)."""
    return tuple(t for t in normalized if t != "&")


def _convert(tokens: tuple[str, ...]) -> Any:
    """Raw conversion (raises on failure); module-level so a worker process can run it."""
    return read_sympy(list(tokens))


def to_sympy(latex: str, timeout: float = DEFAULT_TIMEOUT, *, isolate: bool = False, cpu: bool = False) -> Any | None:
    """The sympy expression (or relation) for ``latex``, or ``None``.

    ``timeout`` is in seconds. ``isolate=True`` always uses a separate process, which also
    survives C-level hangs and memory blow-ups at the cost of a round trip per call.
    ``cpu=True`` (in-process path only) counts CPU seconds, so whether a formula converts
    does not depend on the machine's load; a wall-clock limit of 10x stays as the hard stop.
    """
    return tokens_to_sympy(sympy_tokens(latex), timeout, isolate=isolate, cpu=cpu)


def tokens_to_sympy(
    tokens: tuple[str, ...], timeout: float = DEFAULT_TIMEOUT, *, isolate: bool = False, cpu: bool = False
) -> Any | None:
    """:func:`to_sympy` on tokens already prepared by :func:`sympy_tokens` (callers that cache them)."""
    import sympy

    if not tokens:
        return None
    try:
        if isolate or not alarm_available():
            result = call_with_timeout(_convert, tokens, timeout=timeout)
        elif cpu:
            with time_limit(10 * timeout), time_limit(timeout, cpu=True):
                result = _convert(tokens)
        else:
            with time_limit(timeout):
                result = _convert(tokens)
    except (CASTimeout, RecursionError, MemoryError):
        return None
    except Exception:  # noqa: BLE001 - Unsupported, or sympy failing on what it was given
        return None
    if not isinstance(result, sympy.Basic):
        return None
    return result
