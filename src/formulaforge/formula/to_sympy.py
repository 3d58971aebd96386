"""LaTeX -> sympy for elementary formulas, under a hard time limit.

Conversion uses math-verify's ``latex2sympy2_extended`` (the parser the field's answer
checkers use) with two settings changed for formula comparison: symbols keep their case
(``X`` and ``x`` differ) and ``a \\in A`` is not rewritten as an equation. Its parser is
exponential on some inputs (40 nested parentheses take seconds, 50 take minutes), so
every call runs under a limit from :mod:`formulaforge.utils.timeout`:

* in the main thread, a ``SIGALRM`` timer (microseconds of overhead, fine for bulk work);
* elsewhere, or with ``isolate=True`` (untrusted model output), a kill-able worker process.

Anything that fails, times out, or is not elementary math (text, environments, alignment
markers) gives ``None``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from formulaforge.utils.timeout import CASTimeout, alarm_available, call_with_timeout, time_limit

DEFAULT_TIMEOUT = 2.0

_NOT_ELEMENTARY = re.compile(r"\\begin|\\end|\\\\|&|\\text|\\mbox|\\label|\\tag")


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


def to_sympy(latex: str, timeout: float = DEFAULT_TIMEOUT, *, isolate: bool = False) -> Any | None:
    """The sympy expression (or relation) for ``latex``, or ``None``.

    ``timeout`` is in seconds. ``isolate=True`` always uses a separate process, which also
    survives C-level hangs and memory blow-ups at the cost of a round trip per call.
    """
    import sympy

    text = latex.strip()
    if not text or _NOT_ELEMENTARY.search(text):
        return None
    try:
        if isolate or not alarm_available():
            result = call_with_timeout(_convert, text, timeout=timeout)
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
