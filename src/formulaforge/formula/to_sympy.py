"""LaTeX -> sympy for elementary formulas, under a hard time limit.

Conversion uses math-verify's ``latex2sympy2_extended`` (the parser the field's answer
checkers use) with two settings changed for formula comparison: symbols keep their case
(``X`` and ``x`` differ) and ``a \\in A`` is not rewritten as an equation. Its parser is
exponential on some inputs (40 nested parentheses take seconds, 50 take minutes), so
every call runs under a limit from :mod:`formulaforge.utils.timeout`:

* in the main thread, a ``SIGALRM`` timer (microseconds of overhead, fine for bulk work)
  that keeps firing after the deadline, because latex2sympy swallows exceptions in places
  (:func:`formulaforge.utils.timeout.time_limit`);
* elsewhere, or with ``isolate=True`` (untrusted model output), a kill-able worker process.

The formula is normalized first (see :func:`sympy_ready`). Anything that fails, times out,
or is not elementary math (text, environments, several rows) gives ``None``.
"""

from __future__ import annotations

import functools
from typing import Any

from formulaforge.formula.normalize import normalize_tokens
from formulaforge.formula.tokenize import join_tokens
from formulaforge.utils.timeout import CASTimeout, alarm_available, call_with_timeout, time_limit

DEFAULT_TIMEOUT = 2.0
_BRACED_ARGS = {"\\frac": 2, "\\binom": 2, "\\sqrt": 1}


def sympy_ready(latex: str) -> str | None:
    """The normalized formula in the spelling latex2sympy reads best, or ``None`` if hopeless.

    Normalization drops layout (``\\left``, ``\\,``, ``\\label``, a final full stop) that
    trips the converter; single-token arguments get braces back (``\\frac 12`` ->
    ``\\frac{1}{2}``); alignment ``&`` is dropped. Rows, environments and text are not
    elementary math.
    """
    tokens = normalize_tokens(latex)
    if not tokens:
        return None
    out: list[str] = []
    pending = 0  # single-token arguments still to brace
    for tok in tokens:
        if tok == "\\\\" or tok.startswith(("\\begin", "\\end", "\\text", "\\mbox", "\\hbox")):
            return None
        if tok == "&":
            continue
        if pending:
            if tok == "{" or tok == "[":
                pending = 0  # a braced argument (or \sqrt's index): leave the rest as written
            else:
                out.extend(("{", tok, "}"))
                pending -= 1
                continue
        out.append(tok)
        pending = _BRACED_ARGS.get(tok, 0)
    return join_tokens(out)


@functools.lru_cache(maxsize=1)
def _converter() -> tuple[Any, Any]:
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig

    config = ConversionConfig(lowercase_symbols=False, interpret_contains_as_eq=False)
    return latex2sympy, config


def _convert(latex: str) -> Any:
    """Raw conversion (raises on failure); module-level so a worker process can run it."""
    latex2sympy, config = _converter()
    return latex2sympy(latex, conversion_config=config)


def to_sympy(latex: str, timeout: float = DEFAULT_TIMEOUT, *, isolate: bool = False, cpu: bool = False) -> Any | None:
    """The sympy expression (or relation) for ``latex``, or ``None``.

    ``timeout`` is in seconds. ``isolate=True`` always uses a separate process, which also
    survives C-level hangs and memory blow-ups at the cost of a round trip per call.
    ``cpu=True`` (in-process path only) counts CPU seconds, so whether a formula converts
    does not depend on the machine's load; a wall-clock limit of 10x stays as the hard stop.
    """
    import sympy

    text = sympy_ready(latex)
    if text is None:
        return None
    try:
        if isolate or not alarm_available():
            result = call_with_timeout(_convert, text, timeout=timeout)
        elif cpu:
            with time_limit(10 * timeout), time_limit(timeout, cpu=True):
                result = _convert(text)
        else:
            with time_limit(timeout):
                result = _convert(text)
    except (CASTimeout, RecursionError, MemoryError):
        return None
    except Exception:  # noqa: BLE001 - any parser failure means "not convertible"
        return None
    if not isinstance(result, sympy.Basic):
        return None
    return result
