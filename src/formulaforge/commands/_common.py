"""Shared CLI behaviour: user errors become one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def friendly_errors(fn: F) -> F:
    """Turn :class:`UserError`, ``FileNotFoundError`` and ``ValueError`` into clean exits."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, FileNotFoundError, ValueError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            typer.secho("interrupted; finished outputs are kept, a re-run resumes", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
